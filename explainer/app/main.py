"""The app's router: the sidebar (dataset, model, presenter mode) and the page list.

Each page is one module beside this file; what they share is beside them too: the sidebar
(``common.py``), the models offered (``model_choice.py``), the current digit (``digits.py``),
the looks (``looks.py``) and the drawing canvas (``canvas.py``). Started by ``explainer app``
(``streamlit run`` of this file) or by the repository's thin ``streamlit_app.py``."""

from pathlib import Path

import streamlit as st

from explainer.app import common, launch

HERE = Path(__file__).resolve().parent


def run() -> None:
    """One run of the app's script: set up the page, route to the chosen page."""
    st.set_page_config(page_title="mnist-explainer", page_icon=launch.page_icon(), layout="wide")
    PAGES = [
        st.Page(
            str(HERE / "draw.py"), title="Draw & predict", icon=":material/draw:", default=True
        ),
        st.Page(
            str(HERE / "preprocessing.py"),
            title="Why preprocessing matters",
            url_path="preprocessing",
        ),
        st.Page(
            str(HERE / "layers.py"),
            title="Layer by layer",
            icon=":material/layers:",
            url_path="layers",
        ),
        st.Page(
            str(HERE / "mistakes.py"),
            title="Mistakes",
            icon=":material/error:",
            url_path="mistakes",
        ),
        st.Page(
            str(HERE / "compare.py"),
            title="Compare architectures",
            icon=":material/compare:",
            url_path="compare",
        ),
        st.Page(
            str(HERE / "filters.py"),
            title="Inside the filters",
            icon=":material/filter:",
            url_path="filters",
        ),
        st.Page(
            str(HERE / "training.py"),
            title="Training",
            icon=":material/trending_up:",
            url_path="training",
        ),
        st.Page(
            str(HERE / "export.py"), title="Export", icon=":material/movie:", url_path="export"
        ),
        st.Page(
            str(HERE / "lesson.py"), title="Lesson", icon=":material/school:", url_path="lesson"
        ),
    ]
    page = st.navigation(PAGES)
    with launch.first_page_first():
        common.sidebar()
        launch.warm_up()  # its progress bar under the model picker, never pushing it down
        page.run()
        common.sidebar_digit()


if __name__ == "__main__":  # `streamlit run explainer/app/main.py`
    run()
