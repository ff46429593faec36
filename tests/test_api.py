"""The house: the public API at the package top, the 0.1 module paths with their warning, and
the rules of the layout (arrows point down, no circle, no private name across modules, no huge
module)."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import explainer
from explainer._moved import MOVED

PACKAGE = Path(explainer.__file__).resolve().parent
MAX_MODULE_LINES = 510
RELEASE_0_1 = json.loads((Path(__file__).parent / "data" / "api_0_1.json").read_text())

# sub-package -> sub-packages and views it must never import (arrows only point down)
FORBIDDEN = {
    "nets": ("tracing", "analysis", "reading", "animate", "scenes", "app", "commands", "display"),
    "tracing": ("analysis", "reading", "animate", "scenes", "app", "commands", "display"),
    "reading": ("analysis", "animate", "scenes", "app", "commands", "display"),
    "analysis": ("animate", "scenes", "app", "commands", "display"),
    "animate": ("app", "commands"),
    "scenes": ("app", "commands"),
}


@pytest.fixture(autouse=True)
def _forget_old_paths():
    """An old import replaces ``explainer.capture`` (the function) by the 0.1 module: undo it, so
    the tests after these see the package as a user's fresh process does."""
    before = dict(vars(explainer))
    yield
    for old in MOVED:
        sys.modules.pop(f"explainer.{old}", None)
        if old in before:
            setattr(explainer, old, before[old])
        elif old in vars(explainer):
            delattr(explainer, old)


def test_the_public_api_is_what_all_lists():
    assert set(explainer.__all__) == {"__version__", *explainer._PUBLIC}
    for name in explainer._PUBLIC:
        value = getattr(explainer, name)
        module = importlib.import_module(explainer._PUBLIC[name])
        assert value is getattr(module, name), name


@pytest.mark.parametrize("name", sorted(explainer._PUBLIC))
def test_each_public_name_has_a_docstring_with_an_example(name):
    doc = getattr(explainer, name).__doc__ or ""
    assert ">>>" in doc or "Example" in doc, f"{name}'s docstring shows no example"


def test_import_explainer_stays_light():
    code = (
        "import sys, explainer; "
        "print(sorted(m for m in ('torch', 'matplotlib', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _public_name_of(module) -> str:
    """A name the module itself defines (a package face: the first of its ``__all__``)."""
    own = [
        n for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
    ]  # fmt: skip
    return (own or list(getattr(module, "__all__", [])))[0]


@pytest.mark.parametrize(("old", "homes"), sorted(MOVED.items()))
def test_an_old_module_path_still_works_and_names_the_new_one(old, homes):
    new = homes[0]
    new_module = importlib.import_module(f"explainer.{new}")
    name = _public_name_of(new_module)
    old_module = importlib.import_module(f"explainer.{old}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(old_module, name)
    assert value is getattr(new_module, name)
    messages = [str(w.message) for w in caught if w.category is DeprecationWarning]
    assert messages and f"explainer.{new}" in messages[0], messages
    assert caught[0].filename == __file__  # the warning points at the caller's line


@pytest.mark.parametrize("old", sorted(RELEASE_0_1))
def test_every_public_name_of_release_0_1_is_still_there(old):
    """The names each 0.1 module defined (tests/data/api_0_1.json, read off the 0.1 source),
    wherever they moved, through the old path."""
    module = importlib.import_module(f"explainer.{old}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        missing = [n for n in RELEASE_0_1[old] if not hasattr(module, n)]
    assert missing == []


def test_a_from_import_of_an_old_path_warns_at_the_import_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from explainer.predict import Predictor  # noqa: F401
    assert [w.filename for w in caught if w.category is DeprecationWarning] == [__file__]


def test_an_old_module_that_shadows_a_public_function_is_still_that_function():
    import explainer.preprocess

    from explainer.data import load_sample
    from explainer.reading.preprocess import preprocess

    image = load_sample().images[0].numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        via_old = explainer.preprocess(image)
    np.testing.assert_array_equal(via_old.image, preprocess(image).image)


def test_unknown_names_are_refused():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        explainer.nope  # noqa: B018
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("explainer.nope")


# --- the layout -------------------------------------------------------------------------------


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, name: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """``(module imported, names taken)`` for every import in the file, lazy ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}".rstrip(".")
            out.append((base, [a.name for a in node.names]))
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target, names in _imports(path, name, path.name == "__init__.py"):
            for sub in names:
                if f"{target}.{sub}" in modules:
                    edges.add(f"{target}.{sub}")
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("explainer") and target != "explainer":
                edges.add(target)
        graph[name] = edges - {name}
    return graph


def test_no_import_circle():
    graph, state, stack = _graph(), {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                pytest.fail("import circle: " + " -> ".join([*stack[stack.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_arrows_point_down():
    bad = []
    for name, edges in _graph().items():
        parts = name.split(".")
        if len(parts) < 2 or parts[1] not in FORBIDDEN:
            continue
        for target in edges:
            t = target.split(".")
            if len(t) > 1 and t[1] in FORBIDDEN[parts[1]]:
                bad.append(f"{name} -> {target}")
    assert bad == []


def test_no_private_name_is_imported_across_modules():
    bad = []
    for name, path in _modules().items():
        for target, names in _imports(path, name, path.name == "__init__.py"):
            if target.startswith("explainer"):
                private = [n for n in names if n.startswith("_") and not n.endswith("__")]
                if name == "explainer" and target == "explainer":
                    continue  # the package face may load its own private helper (_moved)
                bad += [f"{name}: {target}.{n}" for n in private]
    assert bad == []


def test_no_module_is_huge():
    sizes = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: s for n, s in sizes.items() if s > MAX_MODULE_LINES} == {}
