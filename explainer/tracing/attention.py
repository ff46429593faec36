"""The attention weights of an attention call, kept with its record so a view can show them.

``nn.MultiheadAttention`` calls ``F.multi_head_attention_forward``, which returns the weights
averaged over heads, or none at all (``need_weights=False``, as torchvision's ViT asks);
``F.scaled_dot_product_attention`` never returns them. :func:`attention_weights` works out
every head's weights from the same arguments: ``softmax(q kᵀ · scale + mask)``, one row per
query position, summing to 1.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
import torch.nn.functional as F

_MHA = inspect.signature(F.multi_head_attention_forward)
_SDPA = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


def attention_weights(name: str, args: tuple, kwargs: dict[str, Any]) -> torch.Tensor | None:
    """``(N, heads, L, S)`` weights of a call to ``name`` (``"multi_head_attention_forward"``
    or ``"scaled_dot_product_attention"``; ``None`` for any other): query position ``l``'s
    share of attention on key position ``s``. Runs without recording (called from the
    recorder)."""
    if name == "multi_head_attention_forward":
        bound = _MHA.bind(*args, **kwargs)
        bound.arguments |= {"need_weights": True, "average_attn_weights": False}
        weights = F.multi_head_attention_forward(*bound.args, **bound.kwargs)[1]
        return weights if weights.dim() == 4 else weights[None]  # an unbatched query
    if name == "scaled_dot_product_attention":
        found = dict(zip(_SDPA, args, strict=False)) | kwargs
        return _sdpa_weights(found)
    return None


def heads(name: str, args: tuple, kwargs: dict[str, Any]) -> int | None:
    """How many heads an attention call has."""
    if name == "multi_head_attention_forward":
        return int(_MHA.bind(*args, **kwargs).arguments["num_heads"])
    query = args[0] if args else kwargs.get("query")
    return int(query.shape[1]) if query.dim() == 4 else 1


def _sdpa_weights(a: dict[str, Any]) -> torch.Tensor:
    """``softmax(q kᵀ · scale + mask)`` as ``F.scaled_dot_product_attention`` computes it."""
    q, k = a["query"], a["key"]
    if a.get("enable_gqa") and k.shape[-3] != q.shape[-3]:
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
    scale = a.get("scale") or 1.0 / math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-2, -1) * scale
    mask = a.get("attn_mask")
    if a.get("is_causal"):
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
    if mask is not None and mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask, float("-inf"))
    elif mask is not None:
        scores = scores + mask
    weights = scores.softmax(-1)
    if weights.dim() == 3:  # (N, L, S): one head
        return weights[:, None]
    return weights.reshape(weights.shape[0], -1, *weights.shape[-2:])
