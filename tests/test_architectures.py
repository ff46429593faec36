import pytest
import torch

from explainer.errors import ExplainerError
from explainer.nets.architectures import available, build, count_parameters, describe
from explainer.tracing.capture import layer_names

EXPECTED_PARAMS = {
    "linear": 7_960,
    "mlp": 7_960,
    "tinyvgg": 7_740,
    "basic_cnn": 1_199_882,
    "bn_cnn": 437_738,
    "cnn3_fc3": 422_474,
}


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_parameter_counts_match_the_tutorials(name):
    assert count_parameters(build(name)) == EXPECTED_PARAMS[name]


def test_registry_has_exactly_the_classic_networks_and_the_fast_one():
    assert available() == [*EXPECTED_PARAMS, "fast_cnn"]


@pytest.mark.parametrize("name", available())
def test_every_network_maps_a_batch_to_ten_logits_and_has_a_description(name):
    model = build(name).eval()
    out = model(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10)
    assert len(describe(name).summary.split()) >= 25  # a paragraph a learner can read
    names = layer_names(model)
    assert names[0] == "normalize" and len(names) == len(set(names))


def test_layers_have_readable_paths():
    assert "block1.conv1" in layer_names(build("bn_cnn"))
    assert "classifier.fc2" in layer_names(build("bn_cnn"))
    assert layer_names(build("linear")) == ["normalize", "flatten", "fc1", "fc2"]


def test_mlp_is_the_linear_model_with_relus():
    kinds = [type(m).__name__ for m in build("mlp").children()]
    assert kinds == ["Normalize", "Flatten", "Linear", "ReLU", "Linear", "ReLU"]


def test_normalisation_is_inside_the_model():
    model = build("linear", mean=0.5, std=0.25)
    x = torch.full((1, 1, 28, 28), 0.75)
    assert torch.allclose(model.normalize(x), torch.ones_like(x))


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ExplainerError, match="bn_cnn"):
        build("resnet9000")
