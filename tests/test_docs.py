"""The README stays a front door, and the documentation site builds with no broken link or
reference (``mkdocs build --strict``, as ``make docs`` and CI run it)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _griffe_rest():
    spec = importlib.util.spec_from_file_location("griffe_rest", ROOT / "docs" / "griffe_rest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short_and_names_the_test_command() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 220
    assert "make test" in text


def test_readme_links_and_pictures_exist() -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert any(t.startswith("animations/") for t in local)
    assert any(t.startswith("docs/") for t in local)
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []


def test_rest_docstrings_become_markdown() -> None:
    griffe = pytest.importorskip("griffe")
    rest = _griffe_rest()
    code = '''
from collections import OrderedDict

def helper():
    """Nothing."""

def documented():
    """Calls :func:`helper` and :func:`~pkg.mod.other`, returns an :class:`OrderedDict`.

    Example::

        documented()

    >>> 1 + 1
    2
    """
'''
    with griffe.temporary_visited_module(code, module_name="demo") as module:
        obj = module["documented"]
        text = rest.markdown_of(obj, obj.docstring.value)
    assert '<autoref identifier="demo.helper" optional>`helper`</autoref>' in text
    assert '<autoref identifier="pkg.mod.other" optional>`other`</autoref>' in text
    assert '<autoref identifier="collections.OrderedDict" optional>`OrderedDict`</autoref>' in text
    assert "Example:\n\n```python\ndocumented()\n```" in text
    assert "```pycon\n>>> 1 + 1\n2\n```" in text
    assert ":func:" not in text and "::" not in text


# fit trains for an epoch; render_manim's example is a literal block (a Manim video takes a
# minute); TrainConfig's use is shown in fit's example.
_SLOW_EXAMPLES = {"fit"}
_NO_DOCTEST = {"render_manim", "TrainConfig"}


def _public_names() -> list:
    from explainer import _PUBLIC

    return [
        pytest.param(name, marks=pytest.mark.slow) if name in _SLOW_EXAMPLES else name
        for name in sorted(set(_PUBLIC) - _NO_DOCTEST)
    ]


@pytest.mark.parametrize("name", _public_names())
def test_public_docstring_examples_run(name: str) -> None:
    from explainer import _PUBLIC

    obj = getattr(importlib.import_module(_PUBLIC[name]), name)
    tests = doctest.DocTestFinder(recurse=False).find(obj, name, globs={})
    assert tests and tests[0].examples, f"{name}'s docstring has no >>> example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


@pytest.mark.slow
def test_site_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "index.html").exists()
    assert (tmp_path / "animations" / "forward.gif").exists()
    reference = (tmp_path / "reference" / "index.html").read_text(encoding="utf-8")
    assert 'id="explainer.tracing.capture.capture"' in reference
    assert ":func:" not in reference


def test_the_tutorial_page_is_the_notebook_cell_by_cell():
    """docs/tutorials/walkthrough.md renders notebooks/walkthrough.ipynb: every code cell is on
    the page verbatim, in the notebook's order, so the two cannot drift apart."""
    import json

    root = Path(__file__).resolve().parent.parent
    notebook = json.loads((root / "notebooks" / "walkthrough.ipynb").read_text())
    page = (root / "docs" / "tutorials" / "walkthrough.md").read_text()
    cells = ["".join(c["source"]).strip() for c in notebook["cells"] if c["cell_type"] == "code"]
    assert cells
    where = [page.find(f"```python\n{cell}\n```") for cell in cells]
    assert -1 not in where, [c[:60] for c, w in zip(cells, where, strict=True) if w == -1]
    assert where == sorted(where)
