"""Browser uploads -> a paired T1/T2 study: listing the series, pairing them, loading the pair.

The upload (DICOM files, a zip of a study, or two NIfTI/MHA files) is listed with
:func:`modic_core.io.list_series`; :func:`auto_pair` proposes the T1 and the T2 series, which
the user can override; :func:`load_pair` loads the chosen two and pairs them with
:func:`modic_core.make_study`. Every problem is an :class:`~modic_core.InputError`.

File names never reach the page: a series read from an image file is shown and stored as
"T1 series, 15 slices" (:func:`modic_core.export.labels.series_label`), because uploaded file
names are patient data in practice.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from modic_core.errors import InputError
from modic_core.export.labels import series_label
from modic_core.io import SeriesInfo, list_series, load_series
from modic_core.io.dicom import too_many_series
from modic_core.settings import limits
from modic_core.pairing.choice import PairCandidate, best_pair, is_confident, same_group
from modic_core.pairing.study import make_study

__all__ = ["Pairing", "auto_pair", "group_labels", "check_upload_size", "upload_key", "list_upload_series", "load_pair", "neutral_label",
           "resolve_server_folder", "series_option_label"]

@dataclass(frozen=True)
class Pairing:
    """Proposed series indexes (into the ``list_series`` result) and how sure the guess is."""

    t1: int
    t2: int
    confident: bool
    reason: str


def group_labels(infos: Sequence[SeriesInfo]) -> list[str]:
    """Per series, ``"patient A, study 1"`` from the hashed identifiers (empty when the upload holds
    one patient and one study, or the files carry no identifiers)."""
    patients = list(dict.fromkeys(i.patient_hash for i in infos if i.patient_hash))
    studies = list(dict.fromkeys(i.study_hash for i in infos if i.study_hash))
    if len(patients) <= 1 and len(studies) <= 1:
        return [""] * len(infos)
    out = []
    for i in infos:
        parts = []
        if len(patients) > 1:
            parts.append(f"patient {chr(65 + patients.index(i.patient_hash))}" if i.patient_hash else "patient ?")
        if len(studies) > 1:
            parts.append(f"study {studies.index(i.study_hash) + 1}" if i.study_hash else "study ?")
        out.append(", ".join(parts))
    return out


def _candidate(info: SeriesInfo) -> PairCandidate:
    return PairCandidate(sequence=info.sequence, orientation=info.orientation, description=info.description,
                         n_slices=info.n_slices, patient_hash=info.patient_hash, study_hash=info.study_hash)


def auto_pair(infos: Sequence[SeriesInfo]) -> Pairing:
    """Choose the T1 and the T2 series among ``infos``.

    Rule: each candidate is scored for its sequence (T1 / T2 from the description and
    TR/TE), its orientation (sagittal), fat suppression or contrast (penalised) and slice
    count; the best distinct pair wins. ``confident`` is True when both series are
    sagittal and recognised as T1 and T2. With fewer than two series an InputError says
    that two are needed; with more than ``limits().max_series`` (``MODIC_MAX_SERIES``) it is
    refused before the quadratic search (listing an upload already stops there).
    """
    infos = list(infos)
    if len(infos) > limits().max_series:
        raise too_many_series(limits().max_series)
    if len(infos) < 2:
        only = neutral_label(infos[0]) if infos else "nothing"
        raise InputError(
            f"Only one series was found ({only}). Modic grading needs two series of the same examination: "
            "a sagittal T1 and a sagittal T2. Please upload both (for example both folders in one zip)."
        )
    candidates = [_candidate(info) for info in infos]
    i, j = best_pair(candidates)
    confident = is_confident(candidates[i], candidates[j])
    if not same_group(candidates[i], candidates[j]):
        reason = ("The best T1 and T2 series come from different studies or patients; please check the two "
                  "choices below (series of different patients are refused).")
    elif confident:
        reason = "Paired automatically by sequence type (T1, T2) and orientation (sagittal)."
    else:
        reason = (
            "The T1 and T2 series could not be recognised with certainty from their descriptions and "
            "timing; please check the two choices below."
        )
    return Pairing(i, j, confident, reason)


def check_upload_size(files: Sequence[Any]) -> int:
    """Total bytes of the upload; InputError above ``limits().max_upload_bytes`` (``MODIC_MAX_UPLOAD_MB``)."""
    total = 0
    for f in files:
        size = getattr(f, "size", None)
        if size is None:
            data = f[1] if isinstance(f, tuple) else f.getvalue()
            size = len(data)
        total += int(size)
    limit = limits().max_upload_bytes
    if total > limit:
        raise InputError(
            f"The upload is too large ({total / 2**20:.0f} MiB); the limit is {limit / 2**20:.0f} MiB. "
            "Please upload only the two sagittal series you need."
        )
    return total


def upload_key(files: Sequence[Any]) -> tuple:
    """A key identifying an upload across reruns (Streamlit file ids, names and sizes)."""
    out = []
    for f in files:
        if isinstance(f, tuple):
            out.append((str(f[0]), len(f[1])))
        else:
            out.append((str(getattr(f, "file_id", "")), str(f.name), int(getattr(f, "size", 0) or 0)))
    return tuple(out)


def list_upload_series(files: Sequence[Any]) -> list[SeriesInfo]:
    """The series in an upload (after the size check)."""
    if not files:
        raise InputError("Nothing was uploaded: please choose DICOM files, a zip of a study, or two NIfTI/MHA files.")
    check_upload_size(files)
    return list_series(list(files))


def neutral_label(info: SeriesInfo) -> str:
    """``"T1 series, 15 slices"`` (with the DICOM SeriesDescription for DICOM; never a file name)."""
    return series_label(role=info.sequence, n_slices=info.n_slices, kind=info.kind, description=info.description)


def series_option_label(info: SeriesInfo, group: str = "") -> str:
    """Text for a series picker: number, group (hashed patient/study), neutral label (no file name),
    DICOM series number, orientation and kind of file."""
    kind = "DICOM" if info.kind == "dicom" else f"{info.kind.upper()} file"
    number = f", series #{info.series_number}" if info.series_number is not None else ""
    prefix = f"[{group}] " if group else ""
    return f"{info.index + 1}: {prefix}{neutral_label(info)}{number}, {info.orientation} ({kind})"


def load_pair(source: Any, t1: SeriesInfo, t2: SeriesInfo, *, study_id: str = ""):
    """Load the two chosen series of ``source`` and pair them (T2 resampled onto T1)."""
    if t1.key == t2.key:
        raise InputError("The same series was chosen as T1 and as T2. Please choose two different series.")
    v1 = load_series(source, series=t1.key)
    v2 = load_series(source, series=t2.key)
    l1 = series_label(role="T1", n_slices=v1.shape[0], kind=t1.kind, description=t1.description)
    l2 = series_label(role="T2", n_slices=v2.shape[0], kind=t2.kind, description=t2.description)
    if t1.kind != "dicom":  # the reader names a file's series after the file: replace it
        v1 = v1.with_array(v1.array, series_description=l1)
    if t2.kind != "dicom":
        v2 = v2.with_array(v2.array, series_description=l2)
    return make_study(v1, v2, sources={"t1": l1, "t2": l2}, study_id=study_id)


def resolve_server_folder(text: str, allowed: Sequence[Path]) -> Path:
    """The server folder typed on the cohort page, resolved; InputError unless inside an allowed folder.

    ``allowed`` is :func:`modic_core.settings.allowed_server_folders` (``MODIC_SERVER_FOLDERS``);
    empty means reading server folders is off. Links and ``..`` are resolved before the check.
    """
    if not allowed:
        raise InputError("Reading folders on the server is switched off; upload a zip of the cohort instead.")
    raw = str(text or "").strip()
    if not raw:
        raise InputError("Please type the path of the cohort folder.")
    path = Path(raw).expanduser().resolve()
    roots = [Path(a).resolve() for a in allowed]
    if not any(path == r or path.is_relative_to(r) for r in roots):
        raise InputError(
            "This folder is outside the folders this server may read (set by its administrator in "
            "MODIC_SERVER_FOLDERS); choose a folder inside one of them, or upload a zip of the cohort."
        )
    if not path.is_dir():
        raise InputError("The cohort folder was not found on the server; please check the path.")
    return path
