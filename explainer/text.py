"""Text that came from a file (a checkpoint's name, class names, a file name, a message quoting
a file), made safe to show.

- :func:`terminal_safe`: control characters (ANSI escape sequences, carriage returns,
  backspaces, newlines, bidi overrides) and undecodable bytes of file names written as visible
  escapes, so a file cannot rewrite the user's screen or fake a line of output.
- :func:`clip_text`: at most ``max_chars`` characters on one line, an ellipsis where cut.
- :func:`markdown_safe`: for Streamlit's Markdown: every character Markdown or HTML reads escaped.
- :class:`SafeStream`: a text stream that passes everything written through
  :func:`terminal_safe` (line breaks and tabs kept) and never fails to encode.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any, TextIO

ELLIPSIS = "…"
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&\"'=])")


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that is not UTF-8 (os.fsdecode)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\x{code:02x}")
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def terminal_safe(text: Any, keep: str = "") -> str:
    """``text`` (a str, bytes or path) with every control or format character written as a
    visible escape (``\\x1b``, ``\\n``, ``\\u202e``), except those in ``keep``; bytes and
    paths are decoded as the file system does, undecodable bytes shown as ``\\xff``.

    >>> terminal_safe("seven\\x1b[2J\\nFAKE")
    'seven\\\\x1b[2J\\\\nFAKE'
    """
    if isinstance(text, (bytes, os.PathLike)):
        text = os.fsdecode(text)
    text = str(text)
    if text.isprintable() and not any(_unsafe(c) for c in text):
        return text
    return "".join(_escape(c) if _unsafe(c) and c not in keep else c for c in text)


def clip_text(text: Any, max_chars: int) -> str:
    """``text`` made :func:`terminal_safe` and cut to at most ``max_chars`` characters (at
    least 1), ending with an ellipsis when cut.

    >>> clip_text("a very long checkpoint name", 10)
    'a very lo…'
    """
    safe = terminal_safe(text)
    limit = max(1, int(max_chars))
    return safe if len(safe) <= limit else safe[: limit - 1] + ELLIPSIS


def markdown_safe(text: Any, max_chars: int = 200) -> str:
    """``text`` clipped by :func:`clip_text` and escaped for Streamlit's Markdown, so a name
    from an uploaded file is shown as the characters it holds, never as Markdown or HTML.

    >>> markdown_safe("**bold** <b>")
    '\\\\*\\\\*bold\\\\*\\\\* \\\\<b\\\\>'
    """
    return _MARKDOWN.sub(r"\\\1", clip_text(text, max_chars))


class SafeStream:
    """A text stream that writes through :func:`terminal_safe` (keeping line breaks and tabs,
    and with ``progress`` the carriage return that starts a progress bar's redraw) and shows
    characters its encoding lacks as backslash escapes instead of failing. Everything else is
    the wrapped stream's."""

    def __init__(self, stream: TextIO, progress: bool = False) -> None:
        self.stream = stream
        self.progress = progress

    def write(self, text: str) -> int:
        lead = "\r" if self.progress and text.startswith("\r") else ""
        safe = lead + terminal_safe(text[len(lead) :], keep="\n\t")
        try:
            self.stream.write(safe)
        except UnicodeEncodeError:
            enc = getattr(self.stream, "encoding", None) or "ascii"
            self.stream.write(safe.encode(enc, "backslashreplace").decode(enc))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
