"""Every picture works on any model: the five user-style zoo networks (functional ReLUs,
tanh LeNet, residual block with ``+`` and ``torch.cat``, strided / depthwise convs with GELU
and SiLU, a module used twice) through every render kind, the Manim scenes' data-building code,
and the labels each picture gives a record (from the record, never assumed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zoo import ZOO, build_zoo

from explainer.analysis.evaluate import evaluate, mistake_report
from explainer.analysis.flowgraph import flow_blocks, inputs_text
from explainer.analysis.snapshots import training_evolution
from explainer.animate import CountingWriter, build_animation, render_animation
from explainer.nets.checkpoints import checkpoint_of
from explainer.tracing.capture import capture

SMALL = (480, 270)


@pytest.fixture(scope="module")
def digit(sample):
    return sample.images[7].numpy().astype(np.float32) / 255.0, int(sample.labels[7])


@pytest.fixture(scope="module")
def traces(digit):
    image, label = digit
    return {name: capture(build_zoo(name), image, label=label) for name in ZOO}


# --- the render kinds --------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ZOO))
@pytest.mark.parametrize("kind", ["forward", "dataflow", "convolution"])
def test_every_trace_kind_renders_every_zoo_network(kind, name, traces):
    counter = CountingWriter()
    render_animation(kind, traces[name], "x.gif", fps=3, seconds=None if kind == "forward" else 16,
                     size=SMALL, writer=counter)  # fmt: skip
    assert counter.frames > 1 and counter.shape == (270, 480, 3)


@pytest.mark.parametrize("name", list(ZOO))
def test_training_and_mistakes_render_from_library_reports(name, sample, digit):
    image, label = digit
    early = checkpoint_of(_reseeded(name))
    early.epoch = 0
    final = checkpoint_of(build_zoo(name))
    final.epoch = 3
    evolution = training_evolution(
        [early, final], image, label=label, images=sample.images[:60], labels=sample.labels[:60]
    )
    for view, ck in zip(evolution.views, (early, final), strict=True):
        first = next(m for m in ck.model.modules() if isinstance(m, torch.nn.Conv2d))
        np.testing.assert_array_equal(view.kernels, first.weight.detach()[:, 0].numpy())
        pred = ck.model(sample.images[:60, None].float() / 255).argmax(1).numpy()
        assert view.accuracy == pytest.approx(float((pred == sample.labels[:60].numpy()).mean()))
        assert view.confusion.sum() == 60
    trace = capture(final.model, image, label=label)
    reel = build_animation("training", trace, evolution=evolution, fps=2, seconds=2, size=SMALL)
    assert reel.n_frames == 4

    report = mistake_report(evaluate(final, sample_only=True), limit=8)
    assert report.checked == 500 and report.errors >= len(report.mistakes)
    confident = [float(m.probs.max()) for m in report.mistakes]
    assert confident == sorted(confident, reverse=True)
    for m in report.mistakes:
        assert m.top2[0] != m.label
        probs = torch.softmax(final.model(torch.from_numpy(m.image)[None, None]), 1)[0]
        np.testing.assert_allclose(m.probs, probs.detach().numpy(), atol=1e-5)
    if report.mistakes:
        reel = build_animation("mistakes", None, report=report, fps=2, seconds=6, size=SMALL)
        assert reel.n_frames == 12


def _reseeded(name: str) -> torch.nn.Module:
    torch.manual_seed(1)
    return ZOO[name]().eval()


def test_animators_read_reports_not_checkpoints(traces):
    from explainer.errors import ExplainerError

    with pytest.raises(ExplainerError, match="evolution=training_evolution"):
        build_animation("training", traces["shared"], evolution=["models/x.pt"])
    with pytest.raises(ExplainerError, match="report=mistake_report"):
        build_animation("mistakes", None, report="mnist_bn_cnn")


# --- labels follow the record ---------------------------------------------------------------


def test_only_the_output_record_gets_class_scores(sample):
    """mnist_linear's hidden fc1 has 10 units too: it is not labelled with the classes."""
    from explainer.nets.architectures import build

    torch.manual_seed(0)
    trace = capture(build("linear").eval(), sample.images[0].numpy() / 255.0)
    reel = build_animation("forward", trace, fps=4, size=SMALL)
    stages = {s.name: s for s in reel.meta["stages"]}
    assert [n for n, s in stages.items() if s.output] == [trace.layers[-1].name]
    assert stages[trace.layers[-1].name].output == "one score (logit) per class"


def test_activation_names_and_combinations_come_from_the_record(traces):
    reel = build_animation("forward", traces["tanh_lenet"], fps=4, size=SMALL)
    chips = [s.chip for s in reel.meta["stages"]]
    assert "tanh" in chips and "ReLU" not in chips
    reel = build_animation("forward", traces["strided"], fps=4, size=SMALL)
    chips = {s.name: s.chip for s in reel.meta["stages"]}
    assert (chips["act1"], chips["act2"], chips["add"]) == ("GELU", "SiLU", "add")
    titles = {s.name: s.title for s in reel.meta["stages"]}
    assert titles["add"].endswith("mul + act2")
    examples = build_animation("forward", traces["examples"], fps=4, size=SMALL)
    out = examples.meta["stages"][-1]
    assert out.name == "log_softmax" and "log" in out.output


def test_dataflow_arrows_follow_the_graph(traces):
    trace = traces["resnetish"]
    reel = build_animation("dataflow", trace, fps=4, seconds=10, size=SMALL)
    blocks = reel.meta["blocks"]
    titles = [b.title for b in blocks]
    add, cat = titles.index("add + ReLU"), titles.index("concat")
    stem = titles.index("conv 3×3 + BN + ReLU")
    assert blocks[add].sources == [add - 1, stem]  # block.bn2 and the shortcut from the stem
    assert len(blocks[cat].sources) == 2 and blocks[cat - 1].sources == blocks[cat - 2].sources
    assert set(reel.meta["paths"]) == {(s, i) for i, b in enumerate(blocks) for s in b.sources}
    # the branches are not drawn as a chain: no arrow from branch_a to branch_b
    assert (cat - 2, cat - 1) not in reel.meta["paths"]
    np.testing.assert_array_equal(blocks[add].values, trace.layer("block.relu#2").output)


# --- the Manim scenes' data ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ZOO))
def test_scene_data_covers_every_record_with_its_real_inputs(name, traces):
    pytest.importorskip("manim")
    from explainer.scenes.comparison import NetworkRow
    from explainer.scenes.data_flow import Volume, flow_arrows
    from explainer.scenes.data_flow import flow_blocks as volumes
    from explainer.scenes.forward_pass import forward_stages, stage_caption

    trace = traces[name]
    stages = forward_stages(trace)
    drawn = [r.name for s in stages for r in s.records]
    assert drawn == [r.name for r in trace.layers if r.kind not in ("normalize", "dropout")]
    assert [s.kind for s in stages][-2:] == ["logits", "probs"]
    np.testing.assert_array_equal(stages[-2].record.output, trace.layers[-1].output)
    where = {r.name: i for i, st in enumerate(stages) for r in st.records}
    for r in trace.layers:  # dropout is not drawn: it stands for what it passes on
        if r.kind == "dropout":
            where[r.name] = where.get(r.inputs[0], 0)
    for s in stages[1:-1]:  # a stage reads what its first record reads, wherever it was drawn
        expected = list(dict.fromkeys(where.get(n, 0) for n in s.records[0].inputs))
        assert s.sources == expected
        assert stage_caption(s, trace)
    blocks = volumes(trace)
    vols = [Volume(b) for b in blocks]
    edges = flow_arrows(vols, blocks)
    assert [(a, b) for a, b, _ in edges] == [
        (s, i) for i, b in enumerate(blocks) for s in b.sources
    ]
    NetworkRow(trace)


def test_an_add_names_its_two_inputs_in_every_picture(traces):
    pytest.importorskip("manim")
    from explainer.scenes.data_flow import flow_blocks as volumes
    from explainer.scenes.forward_pass import forward_stages, stage_caption

    trace = traces["resnetish"]
    add = trace.layer("block.add")
    assert inputs_text(add) == "block.bn2 + stem.2"
    stage = next(s for s in forward_stages(trace) if s.records and s.records[0] is add)
    assert "block.bn2 + stem.2" in stage_caption(stage, trace)
    block = next(b for b in volumes(trace) if b.records and b.records[0] is add)
    assert block.note == "block.bn2 + stem.2" and block.title == "add + ReLU"
    cat = next(b for b in flow_blocks(trace) if b.first.kind == "concat")
    assert inputs_text(cat.first) == "branch_a ‖ branch_b"
