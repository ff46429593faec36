"""A griffe extension for the API reference: the docstrings are written in reST, the site in
Markdown. It rewrites each docstring before mkdocstrings renders it:

- a role such as ``:func:`~explainer.tracing.capture.capture``` becomes a code span that links
  to the name where the reference documents it (an *optional* cross-reference: a name the
  reference leaves out stays plain text instead of failing the strict build);
- a paragraph ending in ``::`` and its indented block become a fenced Python block;
- a run of ``>>>`` lines becomes a fenced ``pycon`` block.

The source files are not touched; only the rendered pages change.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|const):`([^`]+)`")


def _link(obj: griffe.Object, target: str) -> str:
    """One reST role's target as an optional autorefs link titled like Sphinx would."""
    short = target.startswith("~")
    target = target.lstrip("~.")
    title_text, _, explicit = target.partition(" <")
    if explicit:
        target, title = explicit.rstrip(">"), title_text
    else:
        title = target.rsplit(".", 1)[-1] if short else target
    try:
        full = obj.resolve(target.split(".", 1)[0])
        full = full + target[len(target.split(".", 1)[0]) :]
    except (griffe.NameResolutionError, AttributeError, KeyError, ValueError):
        full = target
    return f'<autoref identifier="{full}" optional>`{title}`</autoref>'


def _fence(lines: list[str], indent: int, language: str) -> list[str]:
    body = [line[indent:] if line.strip() else "" for line in lines]
    while body and not body[-1]:
        body.pop()
    return [f"```{language}", *body, "```", ""]


def _blocks(text: str) -> str:
    """reST literal blocks (``::``) and doctest runs (``>>>``) as fenced code."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            start, j = i + 2, i + 2
            base = len(line) - len(line.lstrip())
            while j < len(lines) and (
                not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > base
            ):
                j += 1
            block = lines[start:j]
            indent = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
            lead = line.rstrip()[:-2].rstrip()
            out += [lead + ":" if lead and not lead.endswith(":") else lead, ""]
            out += _fence(block, indent, "python")
            i = j
        elif line.lstrip().startswith(">>>"):
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            out += _fence(lines[i:j], len(line) - len(line.lstrip()), "pycon")
            i = j
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


def markdown_of(obj: griffe.Object, text: str) -> str:
    """The Markdown the site shows for ``obj``'s reST docstring ``text``."""
    text = _blocks(text)
    return _ROLE.sub(lambda m: _link(obj, m.group(1)), text)


class RestToMarkdown(griffe.Extension):
    """Rewrite every docstring of the loaded packages (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)
