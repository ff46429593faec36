"""Your own model classes: where a class lives (its *spec*) and importing it, only on request.

A spec is ``package.module:Class`` (an importable module) or ``path/to/file.py:Class`` (a file).
A checkpoint of your own class records its spec and constructor arguments; loading it imports
that code only when the caller passes a spec (``code=...``, ``--code``) or says
``allow_import=True``. A checkpoint on its own never makes the program import anything.

>>> parse_spec("models/my_net.py:MyNet")
('models/my_net.py', 'MyNet')
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

from explainer.errors import ExplainerError
from explainer.io import file_problem
from explainer.text import clip_text

SPEC_HINT = "path/to/file.py:Class or package.module:Class"

_FILE_MODULES: dict[str, Path] = {}  # module name -> the file it was loaded from


class UserCodeError(ExplainerError):
    """A ``--code`` spec that cannot be imported, or a class that cannot be built."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, short enough for a one-line error."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}"[:limit] if text else type(exc).__name__


def parse_spec(spec: str) -> tuple[str, str]:
    """``(module or file, class name)`` of a spec; a one-line error when it is malformed."""
    where, _, name = spec.rpartition(":") if isinstance(spec, str) else ("", "", "")
    names_ok = bool(name) and all(part.isidentifier() for part in name.split("."))
    module_ok = is_file_spec(where) or all(p.isidentifier() for p in where.split("."))
    if not where or not names_ok or not module_ok:
        raise UserCodeError(f"--code {spec!r} is not a class location; expected {SPEC_HINT}")
    return where, name


def is_file_spec(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def import_class(spec: str) -> type[nn.Module]:
    """Import the module or file a spec names and return its ``nn.Module`` class."""
    where, name = parse_spec(spec)
    module = _import_file(where) if is_file_spec(where) else _import_module(where)
    obj: Any = module
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if obj is None:
        found = [
            n
            for n, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == module.__name__
        ]
        raise UserCodeError(
            f"{where} has no class {name!r}; model classes there: {', '.join(found) or 'none'}"
        )
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise UserCodeError(f"{spec}: {name} is not a torch.nn.Module class")
    return obj


@contextlib.contextmanager
def _on_path(folder: str) -> Iterator[None]:
    """``folder`` on ``sys.path`` for the duration (so a file can import its neighbours)."""
    added = folder not in sys.path
    if added:
        sys.path.append(folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def _import_file(where: str):
    path = Path(where).expanduser()
    problem = file_problem(path)
    if problem == "no such file":
        raise UserCodeError(f"--code: no file {where} (expected {SPEC_HINT})")
    if problem:
        raise UserCodeError(f"--code {where}: {problem}")
    path = path.resolve()
    stem = re.sub(r"\W", "_", path.stem)
    key = f"_explainer_user_{stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise UserCodeError(f"--code: {where} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        with _on_path(str(path.parent)):
            spec.loader.exec_module(module)
    except SystemExit as exc:  # sys.exit() at import: no class to use, and no reason to stop
        del sys.modules[key]
        raise UserCodeError(_exits(where, exc)) from None
    except Exception as exc:  # the user's own code: whatever it raises, report it in one line
        del sys.modules[key]
        raise UserCodeError(f"importing {where} failed: {one_line(exc)}") from None
    _FILE_MODULES[key] = path
    return module


def _exits(where: str, exc: SystemExit) -> str:
    """The one line for user code that calls ``sys.exit()`` (or ``exit()``) when imported."""
    return (
        f"importing {where} failed: it calls sys.exit({_code(exc)}) when "
        'imported; move that call under `if __name__ == "__main__":`'
    )


def _code(exc: SystemExit) -> str:
    return "" if exc.code is None else clip_text(repr(exc.code), 40)


def _import_module(where: str):
    for attempt in range(2):
        try:
            if attempt == 0:
                return importlib.import_module(where)
            with _on_path(os.getcwd()):  # `explainer` run from the folder that holds it
                return importlib.import_module(where)
        except ModuleNotFoundError as exc:
            missing_is_ours = exc.name is not None and where.startswith(exc.name)
            if not missing_is_ours:
                raise UserCodeError(f"importing {where} failed: {one_line(exc)}") from None
        except SystemExit as exc:
            raise UserCodeError(_exits(where, exc)) from None
        except Exception as exc:  # the user's own code: report it in one line
            raise UserCodeError(f"importing {where} failed: {one_line(exc)}") from None
    raise UserCodeError(
        f"no module {where!r} (install it, run from the folder that holds it, or name the file: "
        f"path/to/file.py:Class)"
    )


def class_spec(cls: type) -> str:
    """The spec that imports ``cls`` again: a file path for classes loaded from files or run as
    a script (relative to the current folder when inside it), else ``module:Class``."""
    name = cls.__qualname__
    if "<locals>" in name:
        raise UserCodeError(
            f"{cls.__name__} is defined inside a function; define it at the top level of a "
            "module or file so that it can be imported again"
        )
    mod = cls.__module__
    path = _FILE_MODULES.get(mod)
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if path is None and mod == "__main__" and main_file:
        path = Path(main_file).resolve()
    if path is None:
        return f"{mod}:{name}"
    try:
        shown = path.relative_to(Path.cwd().resolve())
    except ValueError:
        shown = path
    return f"{shown.as_posix()}:{name}"


MAX_NESTING = 32  # lists and dicts inside constructor arguments (a real one needs 2 or 3)


def check_plain(value: Any, what: str, depth: int = 0) -> None:
    """Raise unless ``value`` is plain JSON: dicts with str keys, lists, str, int, finite float,
    bool, None (what a checkpoint can record and a command line can give), nested at most
    :data:`MAX_NESTING` deep (``depth``: how deep ``value`` already is)."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExplainerError(f"{what} is {value}; only finite numbers can be recorded")
        return
    if isinstance(value, (list, dict)) and depth >= MAX_NESTING:
        raise ExplainerError(
            f"{what[:80]} nests lists or dicts more than {MAX_NESTING} deep; "
            "constructor arguments are plain settings"
        )
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_plain(v, f"{what}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ExplainerError(f"{what} has a key {k!r:.40} that is not a string")
            check_plain(v, f"{what}[{k[:40]!r}]", depth + 1)
        return
    raise ExplainerError(
        f"{what} is a {type(value).__name__}; constructor arguments must be plain JSON values "
        "(numbers, strings, booleans, lists, dicts)"
    )


def check_arguments(cls: type, kwargs: dict[str, Any]) -> None:
    """Raise when ``cls(**kwargs)`` does not fit the constructor's signature."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return  # no signature to check (a C extension class): the call itself will tell
    try:
        sig.bind(**kwargs)
    except TypeError as exc:
        raise UserCodeError(
            f"{cls.__name__}(**{json.dumps(kwargs)}) does not fit {cls.__name__}{sig}: {exc}"
        ) from None


def construct(cls: type[nn.Module], kwargs: dict[str, Any]) -> nn.Module:
    """``cls(**kwargs)`` with one-line errors for arguments that do not fit or code that fails."""
    check_arguments(cls, kwargs)
    try:
        model = cls(**kwargs)
    except Exception as exc:  # the user's own code: report it in one line
        raise UserCodeError(
            f"{cls.__name__}(**{json.dumps(kwargs)}) failed: {one_line(exc)}"
        ) from None
    return model


def build_from_spec(spec: str, kwargs: dict[str, Any]) -> nn.Module:
    """Import the class a spec names and build it with ``kwargs``."""
    return construct(import_class(spec), kwargs)


def describe_class(cls: type) -> tuple[str, str]:
    """``(title, summary)`` for a model card: the class name and its docstring's first
    paragraph (or where it comes from)."""
    doc = inspect.cleandoc(cls.__doc__ or "")  # a class's own docstring, never its parent's
    summary = " ".join(doc.split("\n\n")[0].split())
    return cls.__name__, summary or f"your own model class {class_spec(cls)}"
