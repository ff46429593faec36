"""How deep lists and dicts nest in a value read from a file (a JSON header, a checkpoint's
fields), measured without recursion, so that a file nested 100,000 deep is refused in one line
instead of ending in a ``RecursionError`` wherever it is first walked."""

from __future__ import annotations

from typing import Any


def nesting(value: Any, limit: int = 32) -> int:
    """How deep lists, tuples and dicts nest in ``value`` (0 for ``1``, 1 for ``[1]``, 2 for
    ``{"a": [1]}``), looking no further than ``limit + 1`` levels.

    >>> nesting({"a": [1, [2]]}), nesting([[[[[]]]]], limit=2)
    (3, 3)
    """
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, (list, tuple)):
            deepest = max(deepest, depth + 1)
            if depth + 1 <= limit:
                stack.extend((x, depth + 1) for x in v)
    return deepest
