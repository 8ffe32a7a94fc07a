"""Do a T1 and a T2 series belong to one patient and one examination? From one-way hashes only.

Different patients are refused (:class:`~modic_core.errors.InputError`). Different studies,
acquisition dates, or patient age/sex are allowed with a warning: public and anonymised data
often blank the patient ID, so these are the only hints left that two series may come from two
examinations (or two people). Different frames of reference mean that the header geometry cannot
be trusted to place T2 on T1; the alignment check then decides (``modic_core.analysis.alignment``).
"""
from __future__ import annotations

from modic_core.errors import InputError
from modic_core.volume import VolumeMeta

__all__ = ["OVERRIDE_CHECKS", "identity_differences", "identity_warnings"]

#: Identity checks whose difference means the pair may come from two examinations: grading it needs
#: the user's explicit "grade anyway" (code -> how the sentence "Graded although T1 and T2 ..." goes on).
OVERRIDE_CHECKS = {
    "study": "come from different studies",
    "date": "were acquired on different dates",
    "age/sex": "differ in patient age or sex",
}


def _differ(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a != b


def identity_warnings(t1: VolumeMeta, t2: VolumeMeta) -> list[str]:
    """Plain-sentence warnings about the pair; raises InputError for two different patients."""
    if _differ(t1.patient_hash, t2.patient_hash):
        raise InputError("The T1 and T2 series belong to different patients (their patient identifiers differ). "
                         "Please upload two series of the same examination.")
    out: list[str] = []
    if _differ(t1.study_hash, t2.study_hash):
        out.append("The T1 and T2 series come from different studies (examinations); check that they belong "
                   "to the same patient and were acquired together.")
    if _differ(getattr(t1, "date_hash", None), getattr(t2, "date_hash", None)):
        out.append("The T1 and T2 series were acquired on different dates.")
    if _differ(getattr(t1, "demographics_hash", None), getattr(t2, "demographics_hash", None)):
        out.append("The patient's age or sex differs between the T1 and the T2 series: they may come from "
                   "two examinations or two people.")
    if _differ(t1.frame_of_reference_uid, t2.frame_of_reference_uid):
        out.append("The T1 and T2 series have different frames of reference: their positions in the headers "
                   "cannot be trusted, so T2 was placed on T1 by matching the discs found on each.")
    return out


def identity_differences(t1: VolumeMeta, t2: VolumeMeta) -> tuple[str, ...]:
    """Codes of :data:`OVERRIDE_CHECKS` on which the two series differ (from their hashes; empty when
    they agree or the files carry no identity, as MHA/NIfTI files)."""
    found = {
        "study": _differ(t1.study_hash, t2.study_hash),
        "date": _differ(getattr(t1, "date_hash", None), getattr(t2, "date_hash", None)),
        "age/sex": _differ(getattr(t1, "demographics_hash", None), getattr(t2, "demographics_hash", None)),
    }
    return tuple(code for code in OVERRIDE_CHECKS if found[code])
