"""MkDocs hook: the gallery's pictures live in ``animations/`` at the top of the repository
(where ``make gallery`` writes them and the README shows them); the site takes them from
there instead of keeping a second copy in ``docs/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
PICTURES = ("*.gif", "*.png")


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    """Add ``animations/*.gif`` and ``animations/*.png`` to the site, at ``animations/``."""
    for pattern in PICTURES:
        for path in sorted((ROOT / "animations").glob(pattern)):
            uri = f"animations/{path.name}"
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
