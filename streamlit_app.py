"""The mnist-explainer app: ``streamlit run streamlit_app.py`` (or ``make demo``; installed:
``explainer app``). The router and the pages are in ``explainer/app/``."""

from explainer.app.main import run

run()
