"""The case viewer's series picker and its "grade anyway" step (issue #22, items 3 and 4).

Rules:

- **More than two series** are never paired silently: the page lists them in a table that tells
  them apart (position in the upload, the file's own series number, slice count, pixel size,
  file size, a thumbnail of the middle slice, and for MHA/NIfTI files the file name), the pairing
  rule's proposal is preselected, and nothing is graded until the user clicks "Grade this pair"
  (:func:`choose_pair`). Two series without identity (MHA/NIfTI files) are paired, with a note
  saying the app cannot check that they belong together (:data:`NO_IDENTITY_NOTE`).
- **A pair whose identity checks differ** (two studies, two study dates, different patient age or
  sex; :func:`modic_core.pairing.identity.identity_differences`) is graded only after one click on
  "Grade anyway" (:func:`grade_anyway_gate`). The warning shows the differing values to the
  uploader ("T1: 45Y F, study of 2016-06-08; T2: 53Y F, study of 2016-03-09"); the report records
  only which checks differed (:func:`modic_core.analysis.pairing_override.graded_anyway`).

File names and tag values are shown in widgets that do not interpret markdown (a dataframe,
selectbox options) or reduced to plain characters first; they are never logged or exported.
"""
from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from modic_core.io import SeriesInfo
from modic_core.io.series_preview import ShownIdentity, shown_identity, thumbnails
from modic_core.io.sources import image_series_key
from modic_core.io.upload import as_uploads, stored_paths
from modic_core.pairing.identity import OVERRIDE_CHECKS, identity_differences
from modic_core.ui.guard import safe_call
from modic_core.ui.uploads import Pairing, neutral_label

__all__ = ["MAX_THUMBNAILS", "NO_IDENTITY_NOTE", "choose_pair", "grade_anyway_gate", "identity_sentence",
           "needs_choice", "pair_differences", "picker_option_label", "series_rows"]

#: Thumbnails are drawn for uploads of at most this many series (each series is read once for it).
MAX_THUMBNAILS = 12
NO_IDENTITY_NOTE = ("These files carry no patient or study identity (MHA/NIfTI), so the app cannot check that the T1 "
                    "and the T2 come from one examination: check the two choices below.")


def needs_choice(infos: Sequence[SeriesInfo]) -> bool:
    """True when the user must pick T1 and T2 and confirm: more than two series."""
    return len(infos) > 2


def pair_differences(study: Any) -> tuple[str, ...]:
    """Identity checks on which a study's T1 and T2 differ (codes of ``OVERRIDE_CHECKS``)."""
    t2 = study.t2_native if getattr(study, "t2_native", None) is not None else study.t2
    return identity_differences(study.t1.meta, t2.meta)


def _upload_positions(files: Sequence[Any]) -> dict[str, tuple[int, int]]:
    """Series key of each image file given directly -> (its position in the upload from 1, its size in bytes)."""
    items = as_uploads(files)
    out = {}
    for i, (item, rel) in enumerate(zip(items, stored_paths([u.name for u in items]))):
        if rel is not None:
            out[image_series_key(rel)] = (i + 1, len(item.data))
    return out


def _png_data_url(picture: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def series_rows(infos: Sequence[SeriesInfo], files: Sequence[Any], groups: Sequence[str],
                pictures: dict[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
    """One row per series for the picker's table (plain values; the page shows them in a dataframe).

    Columns: ``#`` (the number in the pickers), ``upload`` (position of the file in the upload, image
    files given directly), ``file`` (an image file's name, for the uploader's eyes only), ``group``
    (hashed patient/study), ``series`` (neutral label with the DICOM description), ``series no.``,
    ``slices``, ``pixels`` (rows x columns), ``file size`` (MB, image files), ``picture`` (data URL or None).
    """
    positions = _upload_positions(files)
    pictures = pictures or {}
    rows = []
    for info, group in zip(infos, groups):
        is_file = info.kind != "dicom"
        position, size = positions.get(info.key, (None, None))
        rows.append({
            "#": info.index + 1,
            "upload": position,
            "file": info.description if is_file else "",
            "group": group,
            "series": neutral_label(info),
            "series no.": info.series_number,
            "slices": info.n_slices,
            "pixels": f"{info.rows}×{info.cols}",
            "file size": round(size / 2**20, 3) if size is not None else None,
            "picture": _png_data_url(pictures[info.key]) if info.key in pictures else None,
        })
    return rows


def picker_option_label(info: SeriesInfo, row: dict[str, Any]) -> str:
    """A picker option: ``"3: t2.mha, T2 series, 1 slice, 96×96 px, file 3 of the upload"`` (plain text)."""
    where = f"{row['pixels']} px, {info.orientation}"
    number = f"series #{row['series no.']}" if row["series no."] is not None else ""
    upload = f"file {row['upload']} of the upload" if row["upload"] else ""
    group = f"[{row['group']}]" if row["group"] else ""
    return f"{row['#']}: " + ", ".join(p for p in (group, row["file"], row["series"], number, where, upload) if p)


def identity_sentence(t1: ShownIdentity, t2: ShownIdentity) -> str:
    """``"T1: 45Y F, study of 2016-06-08; T2: 53Y F, study of 2016-03-09"`` (for the page only)."""
    return f"T1: {t1.text()}; T2: {t2.text()}"


def choose_pair(files: Sequence[Any], infos: Sequence[SeriesInfo], pairing: Pairing, groups: Sequence[str], *,
                cache: MutableMapping[str, Any], tag: str) -> tuple[int, int] | None:
    """The list of series, the T1/T2 pickers (preselected by ``pairing``) and "Grade this pair".

    Returns the chosen indexes once the user has clicked for this very pair, else None (nothing
    is loaded or graded). ``cache`` is the upload's session cache: thumbnails are read once per upload.
    """
    if "thumbs" not in cache:
        with st.spinner("Drawing the series…"):
            cache["thumbs"] = (safe_call(lambda: thumbnails(files), "drawing series thumbnails", fallback={})()
                               if len(infos) <= MAX_THUMBNAILS else {})
    rows = series_rows(infos, files, groups, cache["thumbs"])
    st.warning(f"This upload holds {len(infos)} series. Choose the T1 and the T2 of one examination from the list, "
               "then click \"Grade this pair\"; nothing is graded before.", icon="☝️")
    shown = [{k: v for k, v in r.items() if (k != "group" or any(groups)) and (k != "picture" or cache["thumbs"])}
             for r in rows]
    st.dataframe(shown, hide_index=True, use_container_width=True,
                 column_config={"picture": st.column_config.ImageColumn("middle slice", width="small"),
                                "file size": st.column_config.NumberColumn("file size (MB)"),
                                "upload": st.column_config.NumberColumn("upload order")})
    c1, c2 = st.columns(2)
    options = list(range(len(infos)))
    i1 = c1.selectbox("T1 series", options, index=pairing.t1, key=f"cv_t1_{tag}",
                      format_func=lambda i: picker_option_label(infos[i], rows[i]))
    i2 = c2.selectbox("T2 series", options, index=pairing.t2, key=f"cv_t2_{tag}",
                      format_func=lambda i: picker_option_label(infos[i], rows[i]))
    chosen_key = f"cv_chosen_{tag}"
    if st.session_state.get(chosen_key) == (i1, i2):
        return i1, i2
    st.caption("Preselected by sequence type (T1, T2) and orientation (sagittal) where the files say it; "
               "check both choices against the list." + ("" if pairing.confident else " " + pairing.reason))

    def _choose() -> None:
        st.session_state[chosen_key] = (st.session_state[f"cv_t1_{tag}"], st.session_state[f"cv_t2_{tag}"])

    st.button("Grade this pair", key=f"cv_choose_{tag}", type="primary", on_click=_choose)
    return None


def grade_anyway_gate(files: Sequence[Any], t1: SeriesInfo, t2: SeriesInfo, differed: Sequence[str], *,
                      cache: MutableMapping[str, Any], tag: str) -> bool:
    """True once the user clicked "Grade anyway" for this pair; until then a warning with the
    differing values (read once per pair, kept in the upload's session cache) and the button."""
    key = "cv_anyway_" + hashlib.sha1(f"{tag}|{t1.key}|{t2.key}".encode()).hexdigest()[:12]
    if st.session_state.get(key):
        return True
    texts = cache.setdefault("identity_text", {})
    if (t1.key, t2.key) not in texts:
        values = safe_call(lambda: shown_identity(files, [t1.key, t2.key]), "reading identity values", fallback={})()
        texts[(t1.key, t2.key)] = (identity_sentence(values[t1.key], values[t2.key])
                                   if t1.key in values and t2.key in values else "")
    phrases = [OVERRIDE_CHECKS[c] for c in differed]
    what = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    values = texts[(t1.key, t2.key)]
    st.warning(f"The T1 and the T2 series {what}" + (f" ({values})" if values else "") +
               ". They may come from two examinations or two people. Check your choice of series; grade them "
               "only if you are sure they belong together. The downloads will record that you chose to grade anyway "
               "(not these values).", icon="⚠️")
    st.button("Grade anyway", key=f"{key}_button", on_click=lambda: st.session_state.__setitem__(key, True))
    return False
