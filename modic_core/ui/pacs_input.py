"""The case viewer's "From PACS" input: search a DICOMweb archive, pick a study and its T1/T2 pair, analyse,
store the report back as a DICOM SR.

Shown only when a DICOMweb URL is configured (:func:`~modic_core.pacs.dicomweb_config`) and the session may
see patient lists (with sign-in enabled, ``MODIC_AUTH_FILE``: signed-in users only): :func:`pacs_sources`.

What the search shows (patient ID and name, dates, accession number) lives in this session's memory only
(``st.session_state``): it is never logged (errors are :class:`~modic_core.pacs.PacsError` sentences without
PHI; anything else is logged by type and code location by :func:`~modic_core.ui.guard.guarded`), never part of
a file name (the exports use the hashed study label) and never written to the label store.

Flow: search form (QIDO-RS) -> results table -> pick a study -> its series (number, description, plane,
slice count) -> the proposed sagittal T1/T2 pair (:meth:`Archive.propose_pair`, changeable) -> "Retrieve and
analyse" (WADO-RS, the two series only, behind a spinner) -> the upload's pairing checks
(:func:`~modic_core.ui.picker.pair_differences`: a pair that differs in study, date or age/sex is graded only
after "Grade anyway"). :func:`store_report_button` (the downloads block) sends the SR (STOW-RS) into the
same study.
"""
from __future__ import annotations

import hashlib
import io
from datetime import date
from typing import Any, Sequence

import streamlit as st

from modic_core.errors import InputError
from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers
from modic_core.pacs import dicomweb_config, open_archive
from modic_core.pacs.records import PairProposal, SeriesHit, StudyHit
from modic_core.pairing.identity import OVERRIDE_CHECKS
from modic_core.text import markdown_inert, plain_text
from modic_core.ui import runtime as rt
from modic_core.ui.guard import guarded
from modic_core.ui.identity import sign_in_required
from modic_core.ui.picker import pair_differences

__all__ = ["ARCHIVE_KEY", "CACHE_KEY", "PACS_SOURCE", "current_hit", "pacs_archive", "pacs_input", "pacs_sources",
           "store_report_button"]

#: The case viewer's input-source label of this input.
PACS_SOURCE = "From PACS"
#: Session keys: the open archive (tests put a double here) and this input's cache (hits, series, studies).
ARCHIVE_KEY = "cv_pacs_archive"
CACHE_KEY = "cv_pacs_cache"
#: Modalities offered in the search form ("Any": no filter).
MODALITIES = ("MR", "Any", "CT", "SR")
ANY = "Any"
#: Most studies one search lists.
SEARCH_LIMIT = 50


def pacs_sources() -> list[str]:
    """``[PACS_SOURCE]`` when a DICOMweb archive is configured and this session may see its patient lists,
    else ``[]``. With the URL set but a companion setting malformed the input is offered and says which
    (:func:`pacs_input` opens the archive under :func:`~modic_core.ui.guard.guarded`)."""
    try:
        configured = dicomweb_config() is not None
    except InputError:
        configured = True  # only a set URL gets as far as reading the other settings
    return [PACS_SOURCE] if configured and not sign_in_required() else []


def pacs_archive():
    """This session's :class:`~modic_core.pacs.Archive` (opened once per session; a double put at
    :data:`ARCHIVE_KEY` by a test is used as is). Raises PacsError/InputError when the settings are bad."""
    archive = st.session_state.get(ARCHIVE_KEY)
    if archive is None:
        config = dicomweb_config()
        if config is None:
            raise InputError("No PACS is configured: set MODIC_DICOMWEB_URL to the archive's DICOMweb address.")
        archive = st.session_state[ARCHIVE_KEY] = open_archive(config)
    return archive


def _cache() -> dict[str, Any]:
    return st.session_state.setdefault(CACHE_KEY, {"hits": None, "series": {}, "studies": {}, "failed": {},
                                                   "headers": {}, "stored": {}, "earlier": {}})


def current_hit(fp: str) -> StudyHit | None:
    """The archive's study shown by the viewer when it shows the study of fingerprint ``fp``
    (:func:`~modic_core.ui.runtime.fingerprint_of`); None for a study of another input."""
    shown = (st.session_state.get(CACHE_KEY) or {}).get("shown")
    return shown[0] if shown and shown[1] == fp else None


def _name(value: str) -> str:
    """A DICOM person name (``FAMILY^GIVEN``) as a PACS browser shows it: ``FAMILY, GIVEN``."""
    parts = [p for p in str(value or "").split("^") if p]
    return plain_text(", ".join(parts[:2]) + (" " + " ".join(parts[2:]) if len(parts) > 2 else ""), limit=64)


def _day(value: date | None) -> str:
    return value.isoformat() if value else "—"


def study_rows(hits: Sequence[StudyHit]) -> list[dict[str, Any]]:
    """The results table: one row per study, the columns a PACS browser shows."""
    return [{"Date": _day(h.study_date), "Patient ID": plain_text(h.patient_id, limit=64), "Name": _name(h.patient_name),
             "Accession": plain_text(h.accession, limit=16), "Description": plain_text(h.description, limit=64),
             "Modalities": ", ".join(h.modalities), "Series": "" if h.n_series is None else int(h.n_series)}
            for h in hits]


def series_rows(series: Sequence[SeriesHit]) -> list[dict[str, Any]]:
    """The series table of one study: number, description, modality, plane, sequence guess and slice count."""
    return [{"Number": "" if s.number is None else int(s.number), "Description": plain_text(s.description, limit=64),
             "Modality": s.modality, "Plane": s.plane or "unknown", "Sequence": s.sequence or "unknown",
             "Slices": "" if s.n_instances is None else int(s.n_instances)} for s in series]


def _series_label(s: SeriesHit) -> str:
    number = "?" if s.number is None else str(s.number)
    bits = [s.plane or "plane unknown", s.sequence or "sequence unknown"]
    if s.n_instances is not None:
        bits.append(f"{s.n_instances} slices")
    return f"#{number} {plain_text(s.description, limit=48) or '(no description)'} — " + ", ".join(bits)


def _study_option(hit: StudyHit) -> str:
    return " · ".join(b for b in (_day(hit.study_date), plain_text(hit.patient_id, limit=64),
                                  plain_text(hit.description, limit=48) or "(no description)",
                                  f"acc. {plain_text(hit.accession, limit=16)}" if hit.accession else "") if b)


def _search_form(archive, cache: dict[str, Any]) -> None:
    with st.form("cv_pacs_search"):
        c1, c2, c3 = st.columns(3)
        patient_id = c1.text_input("Patient ID", key="cv_pacs_pid", max_chars=64)
        patient_name = c2.text_input("Patient name", key="cv_pacs_name", max_chars=64,
                                     help="Family name first; * matches any characters (e.g. DOE*).")
        accession = c3.text_input("Accession number", key="cv_pacs_acc", max_chars=16)
        c4, c5, c6 = st.columns(3)
        date_from = c4.date_input("Study date from", value=None, key="cv_pacs_from", format="YYYY-MM-DD")
        date_to = c5.date_input("Study date to", value=None, key="cv_pacs_to", format="YYYY-MM-DD")
        modality = c6.selectbox("Modality", MODALITIES, key="cv_pacs_modality")
        submitted = st.form_submit_button("Search the PACS", type="primary", key="cv_pacs_go")
    if not submitted:
        return
    if date_from and date_to and date_from > date_to:
        st.error("The start date is after the end date; give a start date on or before the end date.")
        return
    cache.update(hits=None, pick=None)
    with st.spinner("Searching the PACS…"), guarded("searching the PACS"):
        cache["hits"] = archive.search_studies(
            patient_id=patient_id.strip() or None, patient_name=patient_name.strip() or None, date_from=date_from,
            date_to=date_to, accession=accession.strip() or None, modality=None if modality == ANY else modality,
            limit=SEARCH_LIMIT)


def _pick_study(cache: dict[str, Any]) -> StudyHit | None:
    hits = cache.get("hits")
    if hits is None:
        st.info("Search the PACS for a study: by patient ID or name, accession number, study date or modality.")
        return None
    if not hits:
        st.info("No study matches this search. Widen it (fewer fields, a wider date range, * in the name).")
        return None
    st.caption(f"{len(hits)} stud{'y' if len(hits) == 1 else 'ies'} found" +
               (f" (at most {SEARCH_LIMIT} are listed: narrow the search to see others)." if len(hits) >= SEARCH_LIMIT else "."))
    st.dataframe(study_rows(hits), hide_index=True, width="stretch", key="cv_pacs_results")
    uids = [h.study_uid for h in hits]
    by_uid = {h.study_uid: h for h in hits}
    if st.session_state.get("cv_pacs_study") not in uids:
        st.session_state["cv_pacs_study"] = cache.get("pick") if cache.get("pick") in uids else None
    uid = st.selectbox("Study", uids, key="cv_pacs_study", index=None, placeholder="Pick a study of the list",
                       format_func=lambda u: _study_option(by_uid[u]))
    cache["pick"] = uid  # widget state is dropped while another page is shown
    return by_uid.get(uid) if uid else None


def _choose_pair(archive, cache: dict[str, Any], hit: StudyHit) -> tuple[SeriesHit, SeriesHit] | None:
    if hit.study_uid not in cache["series"]:
        with st.spinner("Listing the study's series…"), guarded("listing a PACS study's series") as g:
            series = archive.list_series(hit.study_uid)
            cache["series"] = {hit.study_uid: (series, archive.propose_pair(series))}  # the current study only
        if not g.ok:
            return None
    series, proposal = cache["series"][hit.study_uid]
    st.dataframe(series_rows(series), hide_index=True, width="stretch", key="cv_pacs_series")
    if len(series) < 2:
        st.info("This study holds fewer than two series; a sagittal T1 and a sagittal T2 series are needed.")
        return None
    uids = [s.series_uid for s in series]
    by_uid = {s.series_uid: s for s in series}
    tag = hashlib.sha1(hit.study_uid.encode()).hexdigest()[:8]
    default = _default_pair(proposal, uids)
    c1, c2 = st.columns(2)
    t1 = c1.selectbox("T1 series", uids, index=uids.index(default[0]), key=f"cv_pacs_t1_{tag}",
                      format_func=lambda u: _series_label(by_uid[u]))
    t2 = c2.selectbox("T2 series", uids, index=uids.index(default[1]), key=f"cv_pacs_t2_{tag}",
                      format_func=lambda u: _series_label(by_uid[u]))
    if proposal is None:
        st.warning("No sagittal T1/T2 pair was recognised in this study: pick the T1 and the T2 series yourself.")
    elif (t1, t2) == (proposal.t1.series_uid, proposal.t2.series_uid):
        (st.caption if proposal.confident else st.warning)(markdown_inert(proposal.reason))
    if t1 == t2:
        st.error("The T1 and the T2 series are the same series; pick two different series.")
        return None
    return by_uid[t1], by_uid[t2]


def _default_pair(proposal: PairProposal | None, uids: Sequence[str]) -> tuple[str, str]:
    if proposal is not None and proposal.t1.series_uid in uids and proposal.t2.series_uid in uids:
        return proposal.t1.series_uid, proposal.t2.series_uid
    return uids[0], uids[1]


def _header_uploads(headers: Sequence[Any]) -> list[tuple[str, bytes]]:
    """Retrieved series headers (pydicom, no pixels) as ``(name, bytes)`` uploads, the form the SR's
    :func:`~modic_core.export.dicom_sr.read_series_headers` reads (names are counters, never UIDs)."""
    import pydicom  # lazy: pydicom is heavy; only DICOM work needs it

    out = []
    for k, ds in enumerate(headers):
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds)
        out.append((f"{k:05d}.dcm", buf.getvalue()))
    return out


def _grade_anyway(differed: Sequence[str], key: str) -> bool:
    """The uploads' rule for a pair that may come from two examinations: True once the user clicked "Grade anyway"."""
    if st.session_state.get(key):
        return True
    phrases = [OVERRIDE_CHECKS[c] for c in differed]
    what = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    st.warning(f"The T1 and the T2 series {what}. They may come from two examinations or two people. Check your "
               "choice of series; grade them only if you are sure they belong together. The downloads will record "
               "that you chose to grade anyway.", icon="⚠️")
    st.button("Grade anyway", key=f"{key}_button", on_click=lambda: st.session_state.__setitem__(key, True))
    return False


def pacs_input():
    """The "From PACS" input: ``(study, sr_source)`` of the retrieved pair, or ``(None, None)`` until then.

    ``sr_source`` is ``(t1_headers, None, t2_headers, None)`` (header-only uploads) for the DICOM SR download and
    :func:`store_report_button`.
    """
    cache = _cache()
    with guarded("opening the PACS") as g:
        archive = pacs_archive()
    if not g.ok:
        return None, None
    _search_form(archive, cache)
    hit = _pick_study(cache)
    if hit is None:
        return None, None
    chosen = _choose_pair(archive, cache, hit)
    if chosen is None:
        return None, None
    t1, t2 = chosen
    pair = (hit.study_uid, t1.series_uid, t2.series_uid)
    if pair in cache["failed"]:
        st.error(markdown_inert(cache["failed"][pair]))
        if not st.button("Try again", key="cv_pacs_retry"):
            return None, None
        cache["failed"].pop(pair)
    if pair not in cache["studies"]:
        if not st.button("Retrieve and analyse", key="cv_pacs_retrieve", type="primary",
                         help="Retrieves the two series only (WADO-RS), with the upload size limits."):
            return None, None
        with st.spinner("Retrieving the two series from the PACS…"), guarded("retrieving a pair from the PACS") as g:
            got = archive.retrieve(hit.study_uid, t1.series_uid, t2.series_uid)
            headers = (_header_uploads(got.t1_headers), _header_uploads(got.t2_headers))
            cache["studies"] = {pair: (got.study, headers)}  # keep only the current pair
        if not g.ok:
            cache["failed"][pair] = g.message
            return None, None
    study, headers = cache["studies"][pair]
    differed = pair_differences(study)
    key = "cv_pacs_anyway_" + hashlib.sha1("|".join(pair).encode()).hexdigest()[:12]
    if differed and not _grade_anyway(differed, key):
        return None, None
    cache["shown"] = (hit, rt.fingerprint_of(study))
    return study, (headers[0], None, headers[1], None)


def store_report_button(column, report, study, sr_source, *, study_label: str, fp: str) -> None:
    """The downloads block's "Store report in PACS" button (only for a study retrieved from the PACS, with a
    reliable report): builds the DICOM SR, sends it into the same study (STOW-RS) and says so without PHI."""
    hit = current_hit(fp)
    if hit is None or sr_source is None or not report.reliable:
        return
    done = _cache()["stored"]
    if column.button("Store report in PACS", key=f"cv_pacs_store_{fp}", disabled=fp in done,
                     help="Sends the findings as a DICOM SR into the same study of the PACS (once).") and fp not in done:
        with st.spinner("Storing the report in the PACS…"), guarded("storing the SR in the PACS") as g:
            t1 = read_series_headers(*sr_source[:2])
            t2 = read_series_headers(*sr_source[2:]) if sr_source[2] is not None else ()
            pacs_archive().store_sr(dicom_sr_bytes(report, study, t1, t2_headers=t2), study_uid=hit.study_uid)
            done[fp] = study_label
        if not g.ok:
            return
    if fp in done:
        column.success(f"Stored in the PACS (study {done[fp]}).")
