"""Editing a saved Trace file by hand, as an old version or a stranger would have written it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np


def rewrite_header(path: str | Path, edit: Callable[[dict], None]) -> None:
    """Rewrite the JSON header of the trace file at ``path`` with ``edit(header)``, in place
    (every array kept as it is)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["header"]))
    edit(header)
    arrays["header"] = np.array(json.dumps(header))
    np.savez(path, **arrays)
