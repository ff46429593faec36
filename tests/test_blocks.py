"""Blocks: the records of a trace grouped by the model's module tree, checked against the
module tree torch itself reports (``named_modules``) and against the recorded values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock
from zoo import REAL, ZOO, build_zoo

from explainer.errors import ExplainerError
from explainer.tracing.blocks import block_named, blocks_of, by_blocks, view_of
from explainer.tracing.capture import capture
from explainer.tracing.trace import Trace


@pytest.fixture(scope="module")
def nets():
    torch.set_num_threads(1)
    image = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    cache: dict = {}

    def get(name: str) -> tuple[nn.Module, Trace]:
        if name not in cache:
            model = build_zoo(name)
            cache[name] = (model, capture(model, image, label=3))
        return cache[name]

    return get


def _leaves(module: nn.Module, path: str) -> list[str]:
    return [f"{path}.{n}" for n, m in module.named_modules() if n and not list(m.children())]


def test_resnet18_reads_stem_eight_residual_blocks_head(nets):
    model, trace = nets("resnet18")
    residual = [n for n, m in model.named_modules() if isinstance(m, BasicBlock)]
    assert len(residual) == 8
    blocks = blocks_of(trace)
    assert [b.name for b in blocks] == ["stem", *residual, "head"]
    assert by_blocks(trace)
    for b in blocks[1:-1]:
        block = model.get_submodule(b.name)
        modules = {r.split("#")[0] for r in b.records}
        own = [r for r in b.records if trace.layer(r).module == b.name]
        assert set(_leaves(block, b.name)) <= modules  # every layer of the block is in it
        assert modules - set(_leaves(block, b.name)) == {trace.layer(r).name for r in own}
        assert [trace.layer(r).kind for r in own] == ["add"]  # out += identity
    top = [n for n, m in model.named_children() if not list(m.children())]
    assert [r.split("#")[0] for r in blocks[0].records] == top[:4]  # conv1, bn1, relu, maxpool
    assert blocks[-1].records == ("avgpool", "flatten", "fc")


def test_resnet18_blocks_chain_and_their_skips_add_up(nets):
    model, trace = nets("resnet18")
    blocks = blocks_of(trace)
    assert blocks[0].input == "input" and blocks[-1].output == trace.layers[-1].name
    for before, after in itertools.pairwise(blocks):
        assert after.input == before.output
    for b in blocks[1:-1]:
        downsample = model.get_submodule(b.name).downsample
        skip = b.skip
        assert b.residual and skip.source == b.input
        expected = _leaves(downsample, f"{b.name}.downsample") if downsample else []
        assert list(skip.through) == expected
        carried = trace.value(skip.through[-1] if skip.through else skip.source)
        main = trace.layer(f"{b.name}.bn2").output
        np.testing.assert_allclose(trace.layer(skip.join).output, main + carried, atol=1e-5)
    assert blocks[0].skip is None and blocks[-1].skip is None


@pytest.mark.parametrize("name", list(ZOO) + list(REAL))
def test_every_record_in_exactly_one_block_in_order(name, nets):
    model, trace = nets(name)
    blocks = blocks_of(trace)
    assert [r for b in blocks for r in b.records] == trace.names()
    assert len({b.name for b in blocks}) == len(blocks)
    modules = dict(model.named_modules())
    for r in trace.layers:  # the module path a record names is one torch knows
        assert r.module in modules, (r.name, r.module)
    for b in blocks:
        assert b.input == "input" or b.input in trace.names()
        assert b.input not in b.records and b.output == b.records[-1]


def test_function_calls_belong_to_the_module_whose_forward_made_them(nets):
    _, trace = nets("tiny_vit")
    assert trace.layer("attn.multi_head_attention_forward[1]").module == "attn"
    assert trace.layer("attn.transpose#2").module == "attn"
    assert trace.layer("add#2").module == ""
    assert trace.layer("head").module == "head"
    _, resnet = nets("resnet18")
    assert resnet.layer("layer3.0.relu#2").module == "layer3.0.relu"  # a module used twice
    assert resnet.layer("layer3.0.add").module == "layer3.0"


def test_a_block_reads_the_block_before_it_when_it_reads_several(nets):
    _, trace = nets("tiny_vit")  # its head adds the attention's output to the tokens before it
    stem, attn, head = blocks_of(trace)
    assert head.records[0] == "add#2" and set(trace.layer("add#2").inputs) == {
        stem.output,
        attn.output,
    }
    assert head.input == attn.output and attn.input == stem.output


def test_blocks_survive_save_and_load(nets, tmp_path):
    _, trace = nets("resnet18")
    loaded = Trace.load(trace.save(tmp_path / "r.npz"))
    assert blocks_of(loaded) == blocks_of(trace)
    assert [r.module for r in loaded.layers] == [r.module for r in trace.layers]


def test_fewer_steps_merge_siblings_then_neighbours(nets):
    _, trace = nets("resnet18")
    stages = blocks_of(trace, most=6)
    assert [b.name for b in stages] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert stages[2].records == blocks_of(trace)[3].records + blocks_of(trace)[4].records
    assert stages[2].input == "layer1.1.relu#2" and stages[2].output == "layer2.1.relu#2"
    for most in (1, 2, 3, 4, 5):
        fewer = blocks_of(trace, most=most)
        assert len(fewer) <= most
        assert [r for b in fewer for r in b.records] == trace.names()


def test_a_long_run_of_single_layers_is_cut(nets):
    _, trace = nets("split")  # 31 records, no module of its own
    blocks = blocks_of(trace)
    assert 1 < len(blocks) < len(trace.layers)
    assert all(len(b) <= 12 for b in blocks)


def test_small_networks_are_shown_by_records(nets):
    assert not by_blocks(nets("tiny_vit")[1])
    assert not by_blocks(nets("examples")[1])


def test_one_chooser_picks_the_view_every_picture_shows(nets):
    """view_of: a block opened, by blocks for a big network (capped by ``most``), every record
    for a small one; asked for, either way; the forward and data-flow GIFs and scenes agree."""
    from explainer.animate.dataflow_blocks import flow_view
    from explainer.animate.forward_blocks import view_stages

    _, big = nets("resnet18")
    _, small = nets("tiny_vit")
    opened = view_of(big, block="layer2.0")
    assert (opened.title, opened.opened.name, opened.blocks) == ("block layer2.0", "layer2.0", None)
    assert view_of(big).title == "by blocks" and len(view_of(big).blocks) == 10  # stem, 8, head
    assert [b.name for b in view_of(big, most=6).blocks][1:-1] == [f"layer{i}" for i in range(1, 5)]
    assert view_of(big, by_blocks=False) == view_of(small) == view_of(small, by_blocks=None)
    assert view_of(small).title == "" and view_of(small).blocks is view_of(small).opened is None
    assert len(view_of(small, by_blocks=True).blocks) == len(blocks_of(small))
    with pytest.raises(ExplainerError, match="no block 'layer9'"):
        view_of(big, block="layer9")
    assert view_stages(big)[1] == flow_view(big)[1] == "by blocks"
    assert len(view_stages(big)[0]) == 10 and len(flow_view(big)[0]) == 12  # + input, softmax
    assert view_stages(small)[1] == flow_view(small)[1] == ""
    pytest.importorskip("manim")
    from explainer.scenes.data_flow import flow_blocks
    from explainer.scenes.forward_pass import forward_stages

    assert len(forward_stages(big)) == 12 and len(flow_blocks(big)) == 11  # input, blocks(, probs)
    assert len(forward_stages(small)) == len(forward_stages(small, by_blocks=False))


def test_an_unknown_block_lists_the_names(nets):
    _, trace = nets("resnet18")
    assert block_named(trace, "layer2.0").skip.through == (
        "layer2.0.downsample.0",
        "layer2.0.downsample.1",
    )
    with pytest.raises(ExplainerError, match=r"no block 'layer9'.*stem, layer1\.0, .*head$"):
        block_named(trace, "layer9")


def test_mobilenet_blocks_follow_torchvisions_inverted_residuals():
    """A block without a skip holds no call of its own (MobileNetV2's first ones): still one
    block; ``use_res_connect`` says which ones add their input back."""
    from torchvision.models import mobilenet_v2
    from torchvision.models.mobilenetv2 import InvertedResidual

    torch.manual_seed(0)
    model = mobilenet_v2(num_classes=10)
    model.features[0][0] = nn.Conv2d(1, 32, 3, 2, 1, bias=False)
    image = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    trace = capture(model.eval(), image)
    blocks = {b.name: b for b in blocks_of(trace)}
    for name, m in model.named_modules():
        if isinstance(m, InvertedResidual):
            b = blocks[name]
            assert {r.split("#")[0] for r in b.records} >= set(_leaves(m, name))
            assert b.residual == m.use_res_connect
            if b.residual:
                assert b.skip.through == () and b.skip.source == b.input
    fewer = blocks_of(trace, most=11)
    assert len(fewer) <= 11 and fewer[0].name == "features.0–1"  # not all 19 in one stage


def test_shufflenet_blocks_are_whole_however_long():
    """ShuffleNet's blocks split their input, run branches and shuffle channels in their own
    forward: each is one block, whatever its length, as torchvision's module tree has it."""
    from torchvision.models import shufflenet_v2_x0_5
    from torchvision.models.shufflenetv2 import InvertedResidual

    torch.manual_seed(0)
    model = shufflenet_v2_x0_5(num_classes=10)
    model.conv1[0] = nn.Conv2d(1, 24, 3, 2, 1, bias=False)
    image = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    trace = capture(model.eval(), image)
    expected = [n for n, m in model.named_modules() if isinstance(m, InvertedResidual)]
    blocks = [b for b in blocks_of(trace) if b.name.startswith("stage")]
    assert [b.name for b in blocks] == expected  # and conv1, maxpool, conv5, the head around
    assert max(len(b) for b in blocks) > 12
    for b in blocks:
        assert all(trace.layer(r).module.startswith(b.name) for r in b.records)
