"""A call seen before with the same plain arguments is recorded by a fast path: its records
must be the ones the full path makes, for every pass and every distinct argument."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explainer.tracing.capture import capture
from explainer.tracing.recompute import check_trace


class Pools(nn.Module):
    """The same function with different plain arguments, positional and keyword."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.max_pool2d(x, 2)
        b = F.max_pool2d(x, 4)
        c = F.max_pool2d(x, kernel_size=2, stride=1)
        e = F.max_pool2d(x, 2, stride=3)
        d = F.avg_pool2d(a, 2)
        flat = torch.cat([t.flatten(1) for t in (a, b, c, e, d)], 1)
        return flat[:, :10] * 2.0


# record name -> (kernel_size, stride, shape), read off the forward above
EXPECTED = {
    "max_pool2d": ([2, 2], [2, 2], (1, 14, 14)),
    "max_pool2d#2": ([4, 4], [4, 4], (1, 7, 7)),
    "max_pool2d#3": ([2, 2], [1, 1], (1, 27, 27)),
    "max_pool2d#4": ([2, 2], [3, 3], (1, 9, 9)),
    "avg_pool2d": ([2, 2], [2, 2], (1, 7, 7)),
}


def test_a_repeated_pass_records_each_call_with_its_own_arguments() -> None:
    image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    model = Pools().eval()
    first, second = capture(model, image), capture(model, image)  # the second: the fast path
    for trace in (first, second):
        assert check_trace(trace) == []
        for name, (kernel, stride, shape) in EXPECTED.items():
            record = trace.layer(name)
            assert (record.params["kernel_size"], record.params["stride"]) == (kernel, stride)
            assert record.output.shape == shape
    for a, b in zip(first.layers, second.layers, strict=True):
        assert (a.name, a.kind, a.inputs, a.params) == (b.name, b.kind, b.inputs, b.params)
        assert a.params is not b.params  # each record owns its settings
        np.testing.assert_array_equal(a.output, b.output)
    mul = second.layer("mul")
    assert mul.params["call"]["args"] == [{"ref": "getitem"}, 2.0]
    assert second.layer("max_pool2d#3").params["call"]["kwargs"]["stride"] == 1


def test_a_second_pass_names_the_new_tensors() -> None:
    """The same call on a new pass reads that pass's tensors, not the first pass's names."""
    model = Pools().eval()
    digits = np.random.default_rng(1).random((2, 28, 28), dtype=np.float32)
    one, two = (capture(model, d) for d in digits)
    assert two.layer("avg_pool2d").inputs == ["max_pool2d"]
    expected = F.avg_pool2d(F.max_pool2d(torch.from_numpy(digits[1])[None, None], 2), 2)[0]
    np.testing.assert_allclose(two.layer("avg_pool2d").output, expected.numpy(), rtol=1e-6)
    assert not np.array_equal(one.layer("avg_pool2d").output, two.layer("avg_pool2d").output)
