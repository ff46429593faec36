"""Installable anywhere: the shipped models travel inside the wheel, ``EXPLAINER_MODELS_DIR``
overrides them, ``explainer app`` starts Streamlit with its own options, and a wheel built from
this checkout works in a fresh environment from a folder outside the checkout.

The wheel tests build the wheel from a copy of the checkout (nothing is written into it),
install it with ``pip install --no-deps`` into a new venv that reuses this venv's installed
dependencies through a ``.pth`` file, and run the installed ``explainer`` from a temporary
folder with the checkout nowhere on ``sys.path``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from explainer import paths
from explainer.cli import main
from explainer.nets.checkpoints import models_dir, resolve_checkpoint, shipped_checkpoints

ROOT = Path(__file__).resolve().parent.parent
WHEEL_LIMIT = 25 * 2**20
_IGNORE_ANYWHERE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "media", "test-artifacts",
    "runs", "animations", "docs", ".pytest_cache", ".ruff_cache", "*.last.pt",
)  # fmt: skip


def COPY_IGNORE(folder: str, names: list[str]) -> set[str]:
    """What the copy leaves out; ``reports/`` (sweep results) only at the top: the shipped
    models' ``models/reports/`` travel in the wheel."""
    top = {"reports"} & set(names) if Path(folder) == ROOT else set()
    return set(_IGNORE_ANYWHERE(folder, names)) | top


# --- in the checkout --------------------------------------------------------------------------


def test_models_dir_is_the_checkouts_models_folder(monkeypatch):
    monkeypatch.delenv("EXPLAINER_MODELS_DIR", raising=False)
    assert paths.source_checkout() == ROOT
    assert models_dir() == ROOT / "models"
    assert resolve_checkpoint("mnist_fast_cnn") == ROOT / "models" / "mnist_fast_cnn.pt"


def test_models_dir_env_overrides(monkeypatch, tmp_path):
    shutil.copyfile(ROOT / "models" / "mnist_tinyvgg.pt", tmp_path / "mnist_mine.pt")
    monkeypatch.setenv("EXPLAINER_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
    assert shipped_checkpoints() == [tmp_path / "mnist_mine.pt"]
    assert resolve_checkpoint("mnist_mine") == tmp_path / "mnist_mine.pt"
    with pytest.raises(Exception, match="shipped models: mnist_mine"):
        resolve_checkpoint("mnist_fast_cnn")


def test_every_package_is_in_pyproject():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "explainer").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), "add these packages to [tool.setuptools] packages"
    mapped = config["package-dir"]
    for name in listed:  # and each listed one is a real folder (package-dir maps a prefix)
        parts = name.split(".")
        cut = max((i for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in mapped), default=0)
        base = ROOT / mapped[".".join(parts[:cut])] if cut else ROOT
        assert base.joinpath(*parts[cut:]).is_dir(), name


def test_constraints_pin_every_requirement_at_an_allowed_version():
    """constraints.txt (what `make setup` installs with) pins each requirement of the base, the
    extras and dev, at a version the requirement accepts: when one changes, regenerate it."""
    tomllib = pytest.importorskip("tomllib")
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    extras = project["optional-dependencies"].values()
    wanted = [*project["dependencies"], *(r for reqs in extras for r in reqs)]
    problems = []
    for text in wanted:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name == canonicalize_name(project["name"]):
            continue  # `all` names the other extras
        if name not in pins:
            problems.append(f"{text}: not in constraints.txt")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{text}: constraints.txt pins {pins[name]}")
    assert problems == [], "regenerate constraints.txt (see its first lines)"


def _exec_capture(monkeypatch) -> list:
    """Replace the exec that ``explainer app`` ends with by a recorder."""
    from explainer.commands import app

    calls: list = []

    def fake_exec(path, argv, env):
        calls.append((path, argv, env))
        raise SystemExit(0)

    monkeypatch.setattr(app.os, "execve", fake_exec)
    monkeypatch.setattr(app.subprocess, "call", lambda cmd, env: fake_exec(cmd[0], cmd, env))
    return calls


def test_app_passes_streamlit_options_on(monkeypatch):
    calls = _exec_capture(monkeypatch)
    with pytest.raises(SystemExit):
        main(["app", "--server.port", "8502", "--server.address=0.0.0.0", "--theme.base", "dark"])
    (path, argv, env) = calls[0]
    assert path == sys.executable
    assert argv[1:4] == ["-m", "streamlit", "run"]
    assert Path(argv[4]) == paths.app_script() and Path(argv[4]).is_file()
    assert argv[5:] == ["--server.port", "8502", "--server.address=0.0.0.0", "--theme.base", "dark"]
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"
    assert env["STREAMLIT_SERVER_MAX_UPLOAD_SIZE"] == "10"


def test_app_defaults_are_the_checkouts_streamlit_config():
    tomllib = pytest.importorskip("tomllib")
    from explainer.commands.app import STREAMLIT_DEFAULTS, env_name

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    flat = {f"{s}.{k}": v for s, opts in config.items() for k, v in opts.items()}
    flat.pop("server.headless")  # `explainer app` opens a browser on a teacher's laptop
    assert flat == STREAMLIT_DEFAULTS
    assert env_name("server.maxUploadSize") == "STREAMLIT_SERVER_MAX_UPLOAD_SIZE"
    assert env_name("theme.primaryColor") == "STREAMLIT_THEME_PRIMARY_COLOR"


def test_other_commands_still_refuse_unknown_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "where", "--server.port", "1"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --server.port 1" in capsys.readouterr().err


def test_app_without_pages_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path / "explainer")
    calls = _exec_capture(monkeypatch)
    assert main(["app"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("explainer: error: this installation has no app pages") and not calls
    assert err.count("\n") == 1


# --- a built wheel in a fresh environment ------------------------------------------------------


def _run(cmd: list, cwd: Path, env: dict, timeout: float = 240) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res


def _clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "EXPLAINER_"))}
    env.update(HOME=str(home), MPLBACKEND="Agg", PIP_NO_INDEX="1")
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``(wheel, source copy)``: the wheel built from a copy of this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=COPY_IGNORE)
    env = _clean_env(tmp)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp / "dist"), str(src)],
        tmp, env,
    )  # fmt: skip
    (wheel,) = (tmp / "dist").glob("mnist_explainer-*.whl")
    return wheel, src


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory):
    """``(bin folder, env, work folder)`` of a new venv holding only the wheel, whose ``.pth``
    reuses this venv's installed dependencies (torch, streamlit, manim...)."""
    wheel, _ = built
    tmp = tmp_path_factory.mktemp("venv")
    venv = tmp / "venv"
    env = _clean_env(tmp)
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, env)
    py = venv / "bin" / "python"
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp, env)
    deps = sysconfig.get_path("purelib")
    (Path(site.stdout.strip()) / "reuse_explainer_deps.pth").write_text(deps + "\n")
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], tmp, env)
    work = tmp / "elsewhere"
    work.mkdir()
    return venv / "bin", env, work


def test_wheel_is_small_and_carries_the_models(built):
    wheel, _ = built
    assert wheel.stat().st_size < WHEEL_LIMIT
    names = set(zipfile.ZipFile(wheel).namelist())
    models = ROOT / "models"
    shipped = {f"explainer/models/{p.relative_to(models)}" for p in models.rglob("*.pt")}
    shipped -= {n for n in shipped if n.endswith(".last.pt")}
    shipped |= {f"explainer/models/{p.relative_to(models)}" for p in models.glob("reports/*/*")}
    assert shipped and shipped <= names
    assert "explainer/assets/mnist_sample.npz" in names
    assert "explainer/commands/app.py" in names
    assert not any(n.startswith(("models/", "scenes/", "app_pages/", "tests/")) for n in names)


def test_wheel_needs_no_extra_by_default(built):
    """The wheel's own metadata: Streamlit, Manim and Optuna only come with their extras."""
    wheel, _ = built
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA")))
    fields = [line.split(": ", 1) for line in meta.decode().splitlines() if ": " in line]
    requires = [value for key, value in fields if key == "Requires-Dist"]
    base = [r.lower() for r in requires if "extra ==" not in r]
    assert base and not any(r.startswith(("streamlit", "manim", "optuna")) for r in base)
    extras = {value for key, value in fields if key == "Provides-Extra"}
    assert {"app", "manim", "sweep", "all", "dev"} <= extras


def test_sdist_builds_and_carries_the_models(built, tmp_path):
    _, src = built
    code = (
        "import sys; from setuptools import build_meta as b; "
        f"print(b.build_sdist({str(tmp_path)!r}))"
    )
    res = _run([sys.executable, "-c", code], src, _clean_env(tmp_path))
    sdist = tmp_path / res.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"pyproject.toml", "models/mnist_fast_cnn.pt", "explainer/cli.py"} <= names


def test_wheel_renders_outside_the_checkout(installed):
    bin_dir, env, work = installed
    where = _run(
        [str(bin_dir / "python"), "-c",
         "import explainer.paths as p; print(p.PACKAGE_DIR); print(p.models_dir())"],
        work, env,
    ).stdout.split()  # fmt: skip
    assert not Path(where[0]).is_relative_to(ROOT)
    assert Path(where[1]) == Path(where[0]) / "models"
    res = _run(
        [str(bin_dir / "explainer"), "render", "forward", "--model", "mnist_fast_cnn",
         "--digit", "3", "--out", "forward.gif", "--fps", "6", "--seconds", "12"],
        work, env,
    )  # fmt: skip
    assert "wrote forward.gif" in res.stdout
    from PIL import Image

    with Image.open(work / "forward.gif") as im:
        assert im.n_frames > 5
    # the packaged model is the repository's: same prediction for the same digit
    probe = (
        "from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint as r; "
        "from explainer.data import load_sample; "
        "from explainer.nets.inference import predict_logits; "
        "c = load_checkpoint(r('mnist_fast_cnn')); s = load_sample(); "
        "print(''.join(map(str, predict_logits(c.model, s.floats()[:40]).argmax(1).tolist())))"
    )
    theirs = _run([str(bin_dir / "python"), "-c", probe], work, env).stdout.strip()
    ours = _run([sys.executable, "-c", probe], ROOT, _clean_env(work)).stdout.strip()
    assert theirs == ours and len(theirs) == 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_wheel_app_answers_its_health_check(installed):
    bin_dir, env, work = installed
    port = _free_port()
    cmd = [str(bin_dir / "explainer"), "app", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
            pytest.fail(f"`explainer app` did not answer within 60 s: {out[-1500:]}")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.slow
def test_wheel_renders_a_manim_scene(installed):
    bin_dir, env, work = installed
    res = _run(
        [str(bin_dir / "explainer"), "render", "forward", "--engine", "manim", "--quality", "low",
         "--model", "mnist_fast_cnn", "--digit", "3", "--out", "manim.mp4"],
        work, env, timeout=600,
    )  # fmt: skip
    assert (work / "manim.mp4").stat().st_size > 10_000, res.stdout
