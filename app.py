"""Modic change explorer: the Streamlit dashboard (``make run``).

The frame: the investigational-use notice (once, above each page), navigation over the pages in
``pages/``, and a sidebar with the normalization method, the detector confidence threshold, the
prediction-set coverage and the device in use. Pages stay thin: the maths and figures live in ``modic_core`` and ``modic_core.ui``.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

# No page or navigation icons: Streamlit turns a material icon name into a favicon fetched from
# fonts.gstatic.com, and nothing the app serves may load anything from outside (test_browser.py checks).
st.set_page_config(page_title="Modic change explorer", layout="wide")

from modic_core import settings  # noqa: E402
from modic_core.analysis.sets import coverage_label  # noqa: E402
from modic_core.normalization.methods import NORMALIZATIONS  # noqa: E402
from modic_core.ui.comparison import shipped_best_method, shipped_starred_method  # noqa: E402
from modic_core.ui.guard import guarded
from modic_core.ui.identity import SIGN_IN_FIRST, identity_panel, sign_in_required  # noqa: E402
from modic_core.ui.runtime import COVERAGE_KEY, NORMALIZATION_KEY, THRESHOLD_KEY, coverage_choices, process_setup  # noqa: E402
from modic_core.ui.backend import get_backend  # noqa: E402
from modic_core.ui.session import device_label, models_status  # noqa: E402
from modic_core.export.style import NOTICE, notice_html  # noqa: E402
from modic_core.logs import configure_logging  # noqa: E402

configure_logging(debug=settings.debug())  # every record through the PHI filter; MODIC_DEBUG adds tracebacks
process_setup()  # once per process: sweep temporary folders a killed server left behind

ROOT = Path(__file__).resolve().parent
# url paths differ from the file names on purpose: Streamlit also registers ``pages/*.py`` as legacy
# (v1) pages under their file names; with the same paths a rerun would run the page file alone,
# skipping this script and its sidebar.
PAGES = [
    st.Page(ROOT / "pages" / "case_viewer.py", title="Case viewer", default=True,
            url_path="viewer"),
    st.Page(ROOT / "pages" / "review_queue.py", title="Review queue", url_path="queue"),
    st.Page(ROOT / "pages" / "cohort_comparison.py", title="Cohort comparison", url_path="cohort"),
    st.Page(ROOT / "pages" / "teaching.py", title="Teaching", url_path="teach"),
    st.Page(ROOT / "pages" / "model_card.py", title="Model card", url_path="model"),
    st.Page(ROOT / "pages" / "model_versions.py", title="Model versions", url_path="versions"),
]


def _default_method() -> str:
    """The comparison's default method by the rule fixed in advance (a small JSON read per rerun), else
    the settings' default."""
    return shipped_best_method()


def sidebar() -> None:
    backend = get_backend()
    min_thr = backend.min_threshold
    status = models_status(backend)
    methods = list(NORMALIZATIONS)
    default = _default_method()
    starred = shipped_starred_method()
    if NORMALIZATION_KEY not in st.session_state or st.session_state[NORMALIZATION_KEY] not in methods:
        st.session_state[NORMALIZATION_KEY] = default
    if THRESHOLD_KEY not in st.session_state:
        st.session_state[THRESHOLD_KEY] = settings.default_threshold()
    coverages = coverage_choices()
    if st.session_state.get(COVERAGE_KEY) not in coverages:
        st.session_state[COVERAGE_KEY] = settings.default_coverage()
    with st.sidebar:
        def label(m: str) -> str:
            text = NORMALIZATIONS[m].label
            if m == starred:
                text += " ★"
            if status["detector"] and not status["classifiers"].get(m):
                text += " (not trained)"
            return text

        # a radio, not a selectbox: the sidebar is narrow and a selectbox cuts long method names off
        st.radio("Intensity normalization", methods, key=NORMALIZATION_KEY, format_func=label,
                     help="How T1 and T2 intensities are standardised before classification (Cina et al. 2024). "
                          "★ = a method that beat z-score in the shipped comparison with a 95% CI excluding zero (none: the methods "
                          "do not differ and z-score is the default). Switching reruns only the classifier.")
        st.caption(f"`{NORMALIZATIONS[st.session_state[NORMALIZATION_KEY]].formula}`")
        st.slider("Detector confidence threshold", min_value=float(min_thr), max_value=1.0, step=0.05,
                  key=THRESHOLD_KEY, format="%.2f",
                  help="Regions the detector scores below this are hidden. Changing it never reruns a network.")
        st.select_slider("Prediction-set coverage", options=coverages, key=COVERAGE_KEY,
                         format_func=lambda c: coverage_label(c).replace("\u00a0", " "),
                         help="The true grade is in the set for about this share of levels (measured on "
                              "cross-validation; model card). Changing it never reruns a network.")
        st.markdown(f"**Device:** {device_label()}")
        if not status["detector"]:
            st.caption("Models: not trained yet (no detector weights installed).")
        st.caption("Research prototype · SPIDER-trained · see the Model card.")
        st.divider()
        identity_panel()  # who saves reviews (label store); sign-in when MODIC_AUTH_FILE is set


# Less empty space around the pages (Streamlit's wide layout pads 6rem above and 5rem beside): the case viewer's two
# panels must fit a 1280x800 laptop screen without scrolling. In the notice's markdown, so it adds no element.
LAYOUT_CSS = ("<style>[data-testid='stMainBlockContainer'], .block-container "
              "{padding-top: 3rem; padding-left: 1.5rem; padding-right: 1.5rem;}</style>")

# The sidebar comes after st.navigation: Streamlit also treats ``pages/`` as legacy pages, and widgets
# created before the navigation call would be registered to another page and lose their values on reruns.
page = st.navigation(PAGES)
with guarded("building the sidebar"):
    sidebar()
st.markdown(LAYOUT_CSS + notice_html(NOTICE), unsafe_allow_html=True)
if sign_in_required():  # MODIC_AUTH_FILE: no page for a signed-out user, only the sidebar's sign-in form
    st.info(SIGN_IN_FIRST)
    st.stop()
with guarded("showing the page"):
    page.run()
