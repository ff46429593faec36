"""The light install: ``pip install mnist-explainer`` captures, trains, evaluates, predicts and
renders GIFs without Streamlit, Manim or Optuna, and a command that needs one of them says, in
one line, which extra to install.

The commands run in a subprocess where the extras' modules cannot be imported: a finder at the
front of ``sys.meta_path`` answers for them as for a module that is not installed (and
``os.execve`` only says what it would start).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTRA_MODULES = ("streamlit", "streamlit_drawable_canvas", "manim", "manimpango", "optuna")
WITHOUT_EXTRAS = f"""
import sys

class Absent:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in {EXTRA_MODULES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Absent)

import os  # `explainer app` ends by exec'ing Streamlit, which would run here: say so instead
os.execve = lambda path, argv, env: sys.exit("exec " + " ".join(argv))
"""
RUN_CLI = "import runpy; runpy.run_module('explainer', run_name='__main__', alter_sys=True)"


def python(code: str, *args: str, cwd: Path = ROOT, extras: bool = False):
    """Run ``code`` (with ``args`` in ``sys.argv``) in a new interpreter, the extras'
    modules hidden unless ``extras``."""
    prelude = "" if extras else WITHOUT_EXTRAS
    return subprocess.run(
        [sys.executable, "-c", prelude + code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def explainer(*args: str, cwd: Path = ROOT):
    """``python -m explainer ARGS`` without the extras."""
    return python(RUN_CLI, *args, cwd=cwd)


def test_the_hiding_works():
    res = python("import streamlit")
    assert res.returncode == 1 and "No module named 'streamlit'" in res.stderr
    assert python("import streamlit", extras=True).returncode == 0


def test_capture_and_a_gif_need_no_extra(tmp_path):
    res = explainer("capture", "mnist_fast_cnn", "--digit", "3", "--out", str(tmp_path / "t.npz"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "t.npz").is_file()
    gif = tmp_path / "forward.gif"
    res = explainer(
        "render", "forward", "--trace", str(tmp_path / "t.npz"), "--out", str(gif),
        "--size", "320x180", "--fps", "4", "--seconds", "10",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert gif.read_bytes()[:6] == b"GIF89a"


def test_the_light_paths_import_no_extra(tmp_path):
    """With the extras installed, the CLI's parser, a capture and a GIF still leave them
    unimported (so a light install cannot need them on these paths)."""
    code = f"""
import json, sys
import explainer
from explainer.cli import build_parser
build_parser()
ckpt = explainer.load_checkpoint("mnist_fast_cnn")
sample = explainer.load_sample()
trace = explainer.capture(ckpt.model, sample.images[0], label=int(sample.labels[0]))
explainer.render_animation("forward", trace, {str(tmp_path / "f.gif")!r}, size=(320, 180),
                           fps=4, seconds=10)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {EXTRA_MODULES!r})))
"""
    res = python(code, extras=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.splitlines()[-1]) == []
    assert (tmp_path / "f.gif").is_file()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["app"], "explainer app needs the app extra: pip install 'mnist-explainer[app]'"),
        (
            ["render", "forward", "--engine", "manim", "--digit", "3", "--out", "{tmp}/m.mp4"],
            "explainer render --engine manim needs the manim extra: "
            "pip install 'mnist-explainer[manim]'",
        ),
        (
            ["sweep", "--trials", "1", "--out", "{tmp}/sweep"],
            "explainer sweep needs the sweep extra: pip install 'mnist-explainer[sweep]'",
        ),
    ],
)
def test_a_missing_extra_is_one_line(tmp_path, args, line):
    res = explainer(*(a.format(tmp=tmp_path) for a in args))
    assert res.returncode == 2
    assert res.stderr.splitlines() == [f"explainer: error: {line}"]
    assert res.stdout == ""
    assert list(tmp_path.iterdir()) == []  # refused before any work


def test_render_manim_in_python_names_the_extra(tmp_path):
    code = f"""
from explainer import ExplainerError, render_manim
try:
    render_manim("forward", None, {str(tmp_path / "x.mp4")!r})
except ExplainerError as exc:
    print(type(exc).__name__, exc)
"""
    res = python(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == (
        "MissingExtra render_manim needs the manim extra: pip install 'mnist-explainer[manim]'"
    )


# --- pyproject.toml -----------------------------------------------------------------------


def _project() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    """``"streamlit-drawable-canvas>=0.9.3"`` -> ``"streamlit_drawable_canvas"``."""
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("-", "_")


def test_pyproject_extras_are_the_ones_the_code_names():
    from explainer.extras import EXTRAS

    project = _project()
    optional = project["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        assert sorted(_name(r) for r in optional[extra]) == sorted(modules), extra
    assert optional["all"] == [f"mnist-explainer[{','.join(EXTRAS)}]"]
    base = {_name(r) for r in project["dependencies"]}
    assert base.isdisjoint(m for ms in EXTRAS.values() for m in ms)


# Where each extra's modules may be imported; anywhere else only the base install counts.
EXTRA_HOMES = {
    "streamlit": "explainer/app/",
    "streamlit_drawable_canvas": "explainer/app/",
    "manim": "explainer/scenes/",
    "cairo": "explainer/scenes/",  # pycairo, installed with manim (the manim extra)
    "optuna": "explainer/nets/sweep.py",
    "onnx": "explainer/webpage/",
    "onnxruntime": "explainer/webpage/",
}
DISTRIBUTION_OF = {"PIL": "pillow", "sklearn": "scikit_learn"}  # module -> distribution
GUARDED = {"IPython"}  # imported inside `except ImportError` (tracing/notebook.py)


def _third_party_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "explainer"}


def test_base_dependencies_cover_every_other_import():
    base = {_name(r) for r in _project()["dependencies"]}
    missing = []
    for path in sorted((ROOT / "explainer").rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        for module in _third_party_imports(path) - GUARDED - {"__future__"}:
            home = EXTRA_HOMES.get(module)
            if home is not None:
                assert where.startswith(home), f"{where} imports {module} (an extra)"
            elif DISTRIBUTION_OF.get(module, module).lower() not in base:
                missing.append(f"{where}: {module}")
    assert missing == [], "add to [project] dependencies, or make it an extra"
