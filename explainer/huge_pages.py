"""Large tensors on huge pages: PyTorch's ``THP_MEM_ALLOC_ENABLE``, set when the package loads.

Keeping every layer's outputs for a batch (``capture_batch(..., reduce="none")``, the
reports, the app's evaluation) asks the kernel for hundreds of MB of fresh memory, and each
4 KB page of it costs a page fault when first written: for ``bn_cnn`` at batch 256 that was a
quarter of the capture's time (1.35x a plain forward, 1.01x when the memory is reused).
PyTorch places CPU tensors of 2 MB and more on transparent huge pages (512 times fewer
faults) when ``THP_MEM_ALLOC_ENABLE=1`` is in the environment at its first allocation of that
size, so the package sets it on import (``import torch`` first is fine: torch allocates no
such tensor on import). A value the user set is kept: ``THP_MEM_ALLOC_ENABLE=0`` turns it off.
Kernels without transparent huge pages ignore the advice; child processes inherit it.
"""

from __future__ import annotations

import os

VARIABLE = "THP_MEM_ALLOC_ENABLE"


def use_huge_pages_for_large_tensors() -> None:
    """Ask PyTorch for huge pages unless the user said otherwise (torch reads the variable
    once, at its first tensor of 2 MB or more: after that a change does nothing)."""
    os.environ.setdefault(VARIABLE, "1")
