"""The mnist-explainer app: ``streamlit run streamlit_app.py`` (or ``make demo``).

This file is only the router: the sidebar (dataset, model, presenter mode) and the page list.
Each page is one module in ``app_pages/``; what they share is in ``app_pages/common.py``.
"""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # app_pages/, however we are started
from app_pages import common, launch

st.set_page_config(page_title="mnist-explainer", page_icon=launch.page_icon(), layout="wide")

PAGES = [
    st.Page("app_pages/draw.py", title="Draw & predict", icon=":material/draw:", default=True),
    st.Page(
        "app_pages/preprocessing.py", title="Why preprocessing matters", url_path="preprocessing"
    ),
    st.Page(
        "app_pages/layers.py", title="Layer by layer", icon=":material/layers:", url_path="layers"
    ),
    st.Page(
        "app_pages/mistakes.py", title="Mistakes", icon=":material/error:", url_path="mistakes"
    ),
    st.Page(
        "app_pages/compare.py",
        title="Compare architectures",
        icon=":material/compare:",
        url_path="compare",
    ),
    st.Page(
        "app_pages/filters.py",
        title="Inside the filters",
        icon=":material/filter:",
        url_path="filters",
    ),
    st.Page(
        "app_pages/training.py",
        title="Training",
        icon=":material/trending_up:",
        url_path="training",
    ),
    st.Page("app_pages/export.py", title="Export", icon=":material/movie:", url_path="export"),
    st.Page("app_pages/lesson.py", title="Lesson", icon=":material/school:", url_path="lesson"),
]

page = st.navigation(PAGES)
launch.warm_up()  # the slow pages' results, computed in the background (progress: sidebar top)
common.sidebar()
page.run()
common.sidebar_digit()
