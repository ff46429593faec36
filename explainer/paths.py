"""Where the package finds its own files, installed from a wheel or run from a source checkout.

- Shipped models: inside the package (``explainer/models/``) when installed from a wheel; in a
  source checkout, the repository's ``models/`` folder, which is their source and where
  ``make models`` writes. ``EXPLAINER_MODELS_DIR`` overrides both.
- The Streamlit app: ``explainer/app/main.py`` inside the package (the repository's
  ``streamlit_app.py`` is a thin file that runs it).
"""

from __future__ import annotations

import os
from pathlib import Path

from explainer.errors import ExplainerError
from explainer.text import clip_text

PACKAGE_DIR = Path(__file__).resolve().parent
MODELS_ENV = "EXPLAINER_MODELS_DIR"


def source_checkout() -> Path | None:
    """The repository root when the package runs from a source checkout, else ``None``."""
    root = PACKAGE_DIR.parent
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        head = pyproject.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return None
    return root if 'name = "mnist-explainer"' in head else None


def models_dir() -> Path:
    """The folder of the shipped models (``EXPLAINER_MODELS_DIR`` overrides it: a one-line
    :class:`~explainer.errors.ExplainerError` naming the variable when it is no folder or
    cannot be read)."""
    env = os.environ.get(MODELS_ENV)
    if env:
        from explainer.io import folder_problem

        folder = Path(env).expanduser()
        problem = folder_problem(folder)
        if problem:
            raise ExplainerError(
                f"{MODELS_ENV}={clip_text(env, 120)}: {problem}; point it at a folder of .pt "
                "models, or unset it to use the shipped ones"
            )
        return folder
    inside = PACKAGE_DIR / "models"
    if inside.is_dir():  # installed from a wheel
        return inside
    root = source_checkout()
    return root / "models" if root is not None else inside


def training_dir() -> Path:
    """Where ``explainer train`` saves when no ``--out`` is given: the shipped models' folder in
    a source checkout (``make models`` writes there) or when ``EXPLAINER_MODELS_DIR`` is set;
    installed from a wheel, ``models/`` in the current folder, never inside the installed
    package (which may be read-only, and which a reinstall would wipe)."""
    if os.environ.get(MODELS_ENV) or not (PACKAGE_DIR / "models").is_dir():
        return models_dir()
    return Path.cwd() / "models"


def app_script() -> Path:
    """The Streamlit script that starts the app (what ``explainer app`` runs)."""
    inside = PACKAGE_DIR / "app" / "main.py"
    if inside.is_file():
        return inside
    root = source_checkout()
    if root is not None and (root / "streamlit_app.py").is_file():
        return root / "streamlit_app.py"
    raise ExplainerError(
        "this installation has no app pages (explainer/app/ is missing); reinstall the package "
        "from a wheel built from a current checkout, or run `streamlit run streamlit_app.py` "
        "in a source checkout"
    )


PREFERRED_ARCHITECTURES = (
    "bn_cnn",
    "tinyvgg",
    "fast_cnn",
    "cnn3_fc3",
    "basic_cnn",
    "mlp",
    "linear",
)
"""The order in which pickers and scenes offer the shipped models: clearest teaching CNN first."""
