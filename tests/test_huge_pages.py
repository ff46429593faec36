"""The package turns on PyTorch's huge pages for large tensors, and keeps the user's choice."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = "import torch, explainer, os; print(os.environ.get('THP_MEM_ALLOC_ENABLE'))"


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("0", "0"), ("1", "1")])
def test_importing_the_package_asks_for_huge_pages_unless_the_user_chose(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if given is not None:
        env["THP_MEM_ALLOC_ENABLE"] = given
    out = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == expected
