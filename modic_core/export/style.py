"""Colours, labels and fixed texts shared by the dashboard pages and the PDF report."""
from __future__ import annotations

from modic_core.analysis.report import CLASS_NAMES

__all__ = [
    "CLASS_COLORS",
    "CLASS_DESCRIPTIONS",
    "CLASS_NAMES",
    "GENERIC_ERROR",
    "NOTICE",
    "NOTICE_LONG",
    "NOTICE_DETAIL",
    "class_color",
    "notice_html",
]

#: Box and chart colour per predicted class (distinguishable on grey MRI and for red-green
#: colour blindness; the class is also always written in the label, colour is never the only cue).
CLASS_COLORS: dict[str, str] = {"MC0": "#00B4D8", "MC1": "#FFC300", "MC2": "#FF2E88"}

CLASS_DESCRIPTIONS: dict[str, str] = {
    "MC0": "no Modic change",
    "MC1": "Modic type 1 (oedema: T1 dark, T2 bright)",
    "MC2": "Modic type 2 (fatty marrow: T1 bright, T2 iso to bright)",
    "MC3": "Modic type 3 (sclerosis: T1 and T2 dark) - not classified by the model",
}

NOTICE = "Investigational use only — not for diagnosis."
#: What :data:`NOTICE_LONG` adds to :data:`NOTICE` (for a page whose banner already shows the notice).
NOTICE_DETAIL = ("This research software has not been cleared or approved by any regulator; its output must not be "
                 "used for clinical decisions.")
NOTICE_LONG = f"{NOTICE} {NOTICE_DETAIL}"

GENERIC_ERROR = (
    "Something went wrong while processing this request. Nothing was changed; please try again, "
    "or try another input. (The details were logged without any patient data.)"
)


def class_color(name: str | None) -> str:
    """Colour of a class name; grey for anything else."""
    return CLASS_COLORS.get(str(name), "#AAAAAA")


def notice_html(text: str = NOTICE) -> str:
    """The notice as a red banner (markdown with HTML), kept apart from ``st.error`` so that
    error messages stay errors."""
    return (
        "<div class='modic-notice' role='note' style='border:2px solid #B00020;border-radius:6px;padding:6px 10px;"
        "background:#FDECEE;color:#7A0016;font-weight:600'>⚠ " + text + "</div>"
    )
