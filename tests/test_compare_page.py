"""The Compare page at presenter size: every column of the summary still shown (in two tables,
each model's numbers the same as in the one table of normal mode), and the training curves'
colours named once, in a legend under both charts, each model its own colour."""

from __future__ import annotations

import json
import re

from test_app import _app
from test_app_truth import _charts

from explainer.nets.checkpoints import load_checkpoint
from explainer.paths import models_dir


def _tables(at) -> list:
    return [d.value for d in at.dataframe]


def test_the_summary_is_two_tables_that_fit_and_lose_no_column():
    """Accuracy in one table, training and cost in another, in both modes (all in one table
    scrolled sideways at 1280×720 once the epochs columns came), with the same numbers."""
    at = _app()
    at.switch_page("explainer/app/compare.py").run()
    assert not at.exception
    normal = _tables(at)
    shipped = {p.stem for p in models_dir().glob("mnist_*.pt")}
    assert len(normal) == 2 and shipped <= set(normal[0]["model"])
    columns = set(normal[0].columns) | set(normal[1].columns)
    assert {"test accuracy", "epochs trained", "best epoch (kept)", "parameters"} <= columns
    at.toggle(key="presenter").set_value(True).run()
    assert not at.exception
    parts = _tables(at)
    assert len(parts) == 2 and all(len(p.columns) <= 6 for p in parts)
    assert set(parts[0].columns) | set(parts[1].columns) == columns
    for part, before in zip(parts, normal, strict=True):
        assert list(part["model"]) == list(before["model"])
        for col in part.columns:  # the same numbers, row by row
            assert part[col].astype(str).tolist() == before[col].astype(str).tolist(), col


def test_curve_colours_are_named_once_and_differ():
    at = _app()
    at.switch_page("explainer/app/compare.py").run()
    assert not at.exception
    curves = [s for s, _ in _charts(at) if '"epoch"' in json.dumps(s)]
    assert len(curves) == 2
    scales = [s["encoding"]["color"]["scale"] for s in curves]
    assert scales[0] == scales[1] and all(s["encoding"]["color"]["legend"] is None for s in curves)
    colour = dict(zip(scales[0]["domain"], scales[0]["range"], strict=True))
    assert len(set(colour.values())) == len(colour)
    names = {load_checkpoint(p).name for p in models_dir().glob("mnist_*.pt")}
    assert names <= set(colour)
    legend = next(m.value for m in at.markdown if "●" in m.value)
    shown = dict(re.findall(r"color:(#[0-9a-f]{6});[^>]*>●</span> ([^<]+)</span>", legend))
    assert {n: c for c, n in shown.items()} == colour
