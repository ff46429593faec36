"""One forward pass, recorded as a dataflow graph: every atomic module and every torch call
between them, each with the names of the records it consumed.

Modules are seen through one process-wide forward hook (and a pre-hook while function calls
are watched); function calls through a :class:`~torch.overrides.TorchFunctionMode` that is
only switched on when the model has a ``forward`` of its own (a tree of ``nn.Sequential``
containers calls nothing between its modules, so it runs at full speed without one), and
taken off while an atomic module runs (what it calls inside is not recorded).

A call that returns a tuple (``chunk``, ``topk``, ``nn.MultiheadAttention``'s attention)
gives one record per tensor in it (``chunk[1]``), so whatever reads an element names it; a
call the project cannot replay is still recorded (kind ``other``), with its inputs.

Tensors are told apart by identity: each recorded output is kept alive for the whole pass so
its ``id`` cannot be reused. Views are kept without copying, except the records named in
``clone`` (a set: those an earlier pass saw changed); when a later in-place operation changed
a kept view all the same (its version counter moved), the caller repeats the pass with
``clone=True``, a copy of every record.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.overrides import TorchFunctionMode

from explainer.tracing import calls
from explainer.tracing.attention import attention_weights, heads
from explainer.tracing.layers import Plan
from explainer.tracing.norms import NORM_OF_CALL, norm_params, permuted

INPUT = "input"


@dataclass(slots=True)
class Event:
    """One recorded operation. ``output`` is the tensor (or what ``take`` kept of it);
    ``tensors`` are the arrays that define it (weights, running statistics, constants)."""

    name: str
    kind: str
    params: dict[str, Any]
    inputs: list[str]
    output: Any
    module: nn.Module | None = None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


class Recorder:
    """Collects the :class:`Event` list of one pass; see the module docstring."""

    def __init__(
        self,
        plan: Plan,
        x: torch.Tensor,
        *,
        take: Callable[[str, torch.Tensor], Any] | None = None,
        wanted: set[str] | None = None,
        clone: bool | frozenset[str] = False,
    ) -> None:
        self.plan, self.take, self.wanted = plan, take, wanted
        self.clone = clone is True  # copy every output, or only those named in ``copies``
        self.copies = clone if isinstance(clone, frozenset) else frozenset()
        self.owner = threading.get_ident()
        self.names: dict[int, str] = {id(x): INPUT}
        self.alive: list[torch.Tensor] = [x]
        self.events: list[Event] = []
        self.versions: list[tuple[torch.Tensor, int]] = []
        self.counts: dict[str, int] = {}
        self.busy = False  # inside an atomic module or inside our own hook
        self.stack: list[str] = []
        self.batch = x.shape[0] if x.dim() else 1
        self.layouts: dict[str, tuple[int, ...]] = {}  # permuted 4-D records: see norms
        self.watcher: TorchFunctionMode | None = None  # set while calls are watched
        self.muted: int | None = None  # id of the atomic module the watcher is off for

    # --- naming -------------------------------------------------------------------------

    def name_of(self, t: torch.Tensor) -> str | None:
        return self.names.get(id(t))

    def _unique(self, base: str) -> str:
        n = self.counts.get(base, 0) + 1
        self.counts[base] = n
        return base if n == 1 else f"{base}#{n}"

    def _add(self, base: str, kind: str, params: dict, inputs: list[str], out: torch.Tensor,
             module: nn.Module | None = None, tensors: dict | None = None) -> str:  # fmt: skip
        n = self.counts.get(base, 0) + 1  # _unique, inlined: it runs for every record
        self.counts[base] = n
        name = base if n == 1 else f"{base}#{n}"
        self._keep(name, kind, params, inputs, out, module, tensors)
        return name

    def _keep(self, name: str, kind: str, params: dict, inputs: list[str], out: torch.Tensor,
              module: nn.Module | None = None, tensors: dict | None = None) -> None:  # fmt: skip
        """Name ``out`` and, when wanted, make it an :class:`Event`. A tensor whose first axis
        is not the batch (a scalar, an attention call's ``(L, N, E)``) is kept whole, marked
        ``batched: False`` and given a batch axis of one, which the Trace takes off again."""
        self.names[id(out)] = name
        self.alive.append(out)
        if self.wanted is not None and name not in self.wanted:
            return
        if out.dim() == 0 or out.shape[0] != self.batch:
            params, out = {**params, "batched": False}, out[None]
        if out.dtype != torch.float32:
            params = {**params, "dtype": str(out.dtype).removeprefix("torch.")}
        kept = out.clone() if self.clone or name in self.copies else out
        self.versions.append((kept, kept._version))
        value = kept if self.take is None else self.take(name, kept)
        self.events.append(Event(name, kind, params, inputs, value, module, tensors or {}))

    def _add_elements(
        self, base: str, kind: str, params: dict, inputs: list[str], out: Any,
        module: nn.Module | None = None, tensors: dict | None = None,
    ) -> None:  # fmt: skip
        """One record per tensor of a tuple result, named ``base[i]`` (``base[i][j]`` inside
        a nested tuple), each reading the call's inputs; ``params["element"]`` says which.
        Attention weights go with the first element only (the attention's output)."""
        stem = self._unique(base)
        for path, t in calls.tensor_elements(out):
            own = {**params, "element": path}
            field = calls.element_name(out, path)
            if field:
                own["element_name"] = field
            kept = {k: v for k, v in (tensors or {}).items() if k != "attention" or path == [0]}
            name = stem + "".join(f"[{i}]" for i in path)
            self._keep(name, kind, own, inputs, t, module, kept)

    # --- modules ------------------------------------------------------------------------

    def on_module_start(self, module: nn.Module, args: Any) -> None:
        if threading.get_ident() != self.owner:
            return
        if id(module) in self.plan.atomic:
            self.busy = True
            if self.muted is None and self.watcher is not None and _pop_if_top(self.watcher):
                self.muted = id(module)  # what it calls inside is not recorded: no watching
        else:
            self.stack.append(self.plan.path_of.get(id(module), ""))

    def on_module_end(self, module: nn.Module, args: Any, output: Any) -> None:
        if threading.get_ident() != self.owner:
            return
        info = self.plan.atomic.get(id(module))
        if info is None:
            if self.stack:
                self.stack.pop()
            return
        self.busy = True
        try:
            path, kind, params = info
            inputs = [self.names.get(id(a), "?") for a in args if isinstance(a, torch.Tensor)]
            first = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if kind in ("bn", "norm") and first is not None:
                params = self._norm_seen(params, first, inputs[0])
            if isinstance(output, torch.Tensor):
                name = self._add(path, kind, params, inputs, output, module)
                if self.layouts:
                    self._follow_layout(name, inputs, first, output)
            elif isinstance(output, (tuple, list)):
                self._add_elements(path, kind, params, inputs, output, module)
        finally:
            self.busy = False
            if self.muted == id(module):
                self.unmute()

    def unmute(self) -> None:
        """Watch calls again after an atomic module (also when it raised: see :func:`watching`)."""
        if self.muted is not None:
            self.muted = None
            torch._C._push_on_torch_function_stack(self.watcher)

    def _norm_seen(self, params: dict, x: torch.Tensor, source: str) -> dict:
        """A norm module's ``axes`` and ``over`` for the input it got (its rank, whether it
        was permuted to channels-last): ``params`` itself when they are what the plan said."""
        trailing = len(params.get("normalized_shape", ()))
        found = norm_params(params["norm"], x.dim(), trailing, self.layouts.get(source))
        return params if all(params.get(k) == v for k, v in found.items()) else params | found

    def _follow_layout(self, name: str, inputs: list[str], src: Any, out: torch.Tensor) -> None:
        """A 4-D result of the same shape as its permuted first input keeps its layout."""
        if inputs and inputs[0] in self.layouts and src is not None and out.shape == src.shape:
            self.layouts[name] = self.layouts[inputs[0]]

    # --- function calls -----------------------------------------------------------------

    def on_call(self, func: Callable[..., Any], args: tuple, kwargs: dict, out: Any) -> None:
        """Record a torch call that read a tensor of this pass: one record for a tensor
        result, one per tensor for a tuple (``chunk``, ``topk``, attention...)."""
        if self.busy:
            return
        single = isinstance(out, torch.Tensor)
        if not single and not (isinstance(out, (tuple, list)) and calls.tensor_elements(out)):
            return
        seen = _pattern(func, args, kwargs, self.names) if single else None
        if seen is not None:
            if not seen[1]:
                return  # only plain arguments: it read no tensor of this pass
            known = _PLAIN_CALLS.get(seen[0])
            if known is not None:
                self._plain_call(known, seen[1], seen[2], args, kwargs, out)
                return
        elif not self._touches(args, kwargs):
            return
        info = calls.call_info(func)
        key, name = info.key, info.name
        if single and info.may_return_input and any(a is out for a in args):
            return  # it handed back its input: no new tensor, the input keeps its name
        encoder = calls.CallEncoder(self.name_of)
        encoded, encoded_kw = encoder.encode_call(args, kwargs)
        call = {"key": key, "args": encoded, "kwargs": encoded_kw}
        plain, tensors = calls.split_settings(key, args, kwargs)
        if seen is not None and not (tensors or encoder.consts) and _settled(info):
            _PLAIN_CALLS[seen[0]] = (info, plain)  # the next such call takes _plain_call
        tensors = {**encoder.consts, **tensors}
        params = {"function": info.short, "call": call, **_copied(plain)}
        kind = "other" if encoder.unknown else info.kind
        inputs = list(dict.fromkeys(encoder.refs))
        params |= self._meaning(name, kind, _first_tensor(args), inputs, args, kwargs, tensors)
        base = self._prefix() + info.short
        if not single:
            self._add_elements(base, kind, params, inputs, out, tensors=tensors)
            return
        made = self._add(base, kind, params, inputs, out, tensors=tensors)
        self._call_layout(made, name, inputs, args, kwargs, out)

    def _plain_call(self, known: tuple[calls.CallInfo, dict], refs: list[str], encoded: list,
                    args: tuple, kwargs: dict, out: torch.Tensor) -> None:  # fmt: skip
        """:meth:`on_call` for a call seen before with the same plain arguments and only
        tensors of this pass (``F.relu(x)``, ``F.max_pool2d(x, 2)``, ``x.view(1, -1)``): the
        same record, without encoding every argument or working out its settings again."""
        info, plain = known
        if info.may_return_input and any(a is out for a in args):
            return
        call = {"key": info.key, "args": encoded, "kwargs": dict(kwargs)}
        params = {"function": info.short, "call": call, **_copied(plain)}
        inputs = list(dict.fromkeys(refs))
        made = self._add(self._prefix() + info.short, info.kind, params, inputs, out)
        self._call_layout(made, info.name, inputs, args, kwargs, out)

    def _prefix(self) -> str:
        """``"layer1.0."``: the path of the module whose ``forward`` makes the call."""
        return f"{self.stack[-1]}." if self.stack and self.stack[-1] else ""

    def _call_layout(self, made: str, name: str, inputs: list[str], args: tuple, kwargs: dict,
                     out: torch.Tensor) -> None:  # fmt: skip
        """A permuted 4-D record's layout (see norms), or its first input's it keeps."""
        if name in ("permute", "transpose", "swapaxes") and out.dim() == 4 and inputs:
            self.layouts[made] = permuted(self.layouts.get(inputs[0]), name, args, kwargs)
        elif self.layouts:
            self._follow_layout(made, inputs, _first_tensor(args), out)

    def _meaning(self, name: str, kind: str, src: Any, inputs: list[str], args: tuple,
                 kwargs: dict, tensors: dict) -> dict:  # fmt: skip
        """What a norm or attention call computes, for its record: a norm's ``norm``, ``axes``
        and ``over``; an attention's ``heads`` (and, in ``tensors``, every head's weights)."""
        if name in NORM_OF_CALL and src is not None:
            shape = kwargs.get("normalized_shape", args[1] if len(args) > 1 else ())
            trailing = len(shape) if isinstance(shape, (list, tuple)) else 1
            layout = self.layouts.get(inputs[0]) if inputs else None
            return norm_params(NORM_OF_CALL[name], src.dim(), trailing, layout)
        if kind != "attention":
            return {}
        if self.take is None:  # one digit: keep every head's weights for the views
            w = attention_weights(name, args, kwargs)
            tensors["attention"] = w[0] if w.shape[0] == self.batch else w
        return {"heads": heads(name, args, kwargs)}

    def _touches(self, args: tuple, kwargs: dict) -> bool:
        """Whether a call reads a tensor of this pass (one level into lists and tuples)."""
        names = self.names
        for a in (*args, *kwargs.values()):
            if isinstance(a, torch.Tensor):
                if id(a) in names:
                    return True
            elif isinstance(a, (list, tuple)) and any(
                isinstance(t, torch.Tensor) and id(t) in names for t in a
            ):
                return True
        return False

    def run_chain(self, x: torch.Tensor) -> torch.Tensor:
        """Run a sequential plan's steps one after the other, recording each: what the tree
        of ``nn.Sequential`` containers does, without hooks (see :func:`chain_applies`)."""
        h = x
        if self.take is not None or self.wanted is not None:
            for module, path, kind, params, _ in self.plan.chain:
                out = module(h)
                self._add(path.split("#")[0], kind, params, [self.names[id(h)]], out, module)
                h = out
            return h
        events, versions, clone, copies = self.events, self.versions, self.clone, self.copies
        for module, name, kind, params, prev in self.plan.chain:  # the hot path of capture()
            out = module(h)
            kept = out.clone() if clone or name in copies else out
            versions.append((kept, kept._version))
            events.append(Event(name, kind, params, [prev], kept, module))
            h = out
        return h

    def changed_in_place(self) -> bool:
        """Whether a kept view was changed after it was recorded (then repeat with copies)."""
        return any(t._version != v for t, v in self.versions)

    def changed(self) -> frozenset[str]:
        """The records whose kept view was changed after it was recorded: the ones to copy
        the moment they are made (``clone=`` this set) in a pass that must be right."""
        return frozenset(
            e.name for e, (t, v) in zip(self.events, self.versions, strict=True) if t._version != v
        )


class _CallWatcher(TorchFunctionMode):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.recorder.on_call(func, args, kwargs, out)
        return out


_PLAIN_TYPES = frozenset([int, float, bool, str, type(None)])
_REF, _KEYWORDS = object(), object()  # pattern markers: a tensor of the pass; keywords follow

# Calls seen before, by pattern (see _pattern): their CallInfo and plain settings.
_PLAIN_CALLS: dict[tuple, tuple[calls.CallInfo, dict[str, Any]]] = {}


def _pattern(
    func: Callable[..., Any], args: tuple, kwargs: dict, names: dict[int, str]
) -> tuple[tuple, list[str], list] | None:
    """A call whose arguments are tensors of this pass and plain values (numbers, strings,
    ``None``) as ``(pattern, refs, encoded args)``: the pattern is the function with every
    plain value and its type (``1`` and ``True`` differ), each tensor a marker. ``None`` for
    any other call (a list, a constant tensor, a tensor keyword)."""
    pattern: list[Any] = [func]
    refs, encoded = [], []
    for a in args:
        if isinstance(a, torch.Tensor):
            name = names.get(id(a))
            if name is None:
                return None
            refs.append(name)
            encoded.append({"ref": name})
            pattern.append(_REF)
        elif type(a) in _PLAIN_TYPES:
            encoded.append(a)
            pattern += (type(a), a)
        else:
            return None
    if kwargs:
        pattern.append(_KEYWORDS)
        for k, v in kwargs.items():
            if type(v) not in _PLAIN_TYPES:
                return None
            pattern += (k, type(v), v)
    try:
        hash(func)
    except TypeError:  # an unhashable callable
        return None
    return tuple(pattern), refs, encoded


def _settled(info: calls.CallInfo) -> bool:
    """Whether a call's record depends only on its pattern: not a norm or an attention
    (their records depend on the input's layout or keep its weights); room left to keep it."""
    return info.name not in NORM_OF_CALL and info.kind != "attention" and len(_PLAIN_CALLS) < 4096


def _copied(plain: dict[str, Any]) -> dict[str, Any]:
    """Settings with their lists copied (each record owns its own)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in plain.items()}


def _first_tensor(args: tuple) -> torch.Tensor | None:
    for a in args:
        if isinstance(a, torch.Tensor):
            return a
    return None


def _pop_if_top(mode: TorchFunctionMode) -> bool:
    """Take ``mode`` off the torch function mode stack if it is on top (else change nothing)."""
    if not torch._C._len_torch_function_stack():
        return False
    top = torch._C._pop_torch_function_stack()
    if top is mode:
        return True
    torch._C._push_on_torch_function_stack(top)
    return False


def chain_applies(plan: Plan) -> bool:
    """Whether running the plan's chain is exactly ``model(x)``: a sequential tree with no
    hooks on its containers and no process-wide module hooks."""
    if plan.chain is None or _global_module_hooks():
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks for m in plan.containers)


def _global_module_hooks() -> bool:
    from torch.nn.modules import module as torch_module

    return bool(torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks)


@contextlib.contextmanager
def watching(recorder: Recorder) -> Iterator[None]:
    """Hooks (and, unless the model is a plain ``nn.Sequential`` tree, the call watcher) on
    for the block; all removed on exit, also when the block raises."""
    handles = [register_module_forward_hook(recorder.on_module_end)]
    try:
        if recorder.plan.sequential:
            yield
            return
        handles.append(register_module_forward_pre_hook(recorder.on_module_start))
        with _CallWatcher(recorder) as watcher:
            recorder.watcher = watcher
            try:
                yield
            finally:
                recorder.unmute()  # an atomic module that raised left the watcher off
                recorder.watcher = None
    finally:
        for h in handles:
            h.remove()
