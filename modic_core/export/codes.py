"""Coded concepts of the DICOM SR: the private coding scheme ``99MODICCORE`` and the SNOMED CT disc sites.

There is no standard code for a Modic type, so the classes, the probabilities and the detector
confidence use a private scheme. DICOM PS3.3 C.12.1.1.2 asks an instance that uses a private
scheme to declare it in its CodingSchemeIdentificationSequence: :func:`coding_scheme_item`.
A private scheme's designator starts with "99"; code meanings are at most 64 characters.
"""
from __future__ import annotations

__all__ = [
    "CLASS_MEANINGS",
    "PRIVATE_SCHEME",
    "PRIVATE_SCHEME_NAME",
    "certainty_code",
    "class_code",
    "set_member_concept",
    "coding_scheme_item",
    "level_finding_site",
    "private_code",
]

PRIVATE_SCHEME = "99MODICCORE"
PRIVATE_SCHEME_NAME = "modic_core private codes for Modic change grading (research)"
PRIVATE_SCHEME_VERSION = "1"

#: Qualitative values of the "Modic classification" evaluation (prediction -> code meaning).
CLASS_MEANINGS = {
    "MC0": "No Modic change",
    "MC1": "Modic type 1 change",
    "MC2": "Modic type 2 change",
    "not graded": "Not graded",
}
_CLASS_VALUES = {"MC0": "MC0", "MC1": "MC1", "MC2": "MC2", "not graded": "NOTGRADED"}

_DISC_CODES = {
    "L5-S1": "IntervertebralDiscStructureOfFifthLumbarVertebra",
    "L4-L5": "IntervertebralDiscStructureOfFourthLumbarVertebra",
    "L3-L4": "IntervertebralDiscStructureOfThirdLumbarVertebra",
    "L2-L3": "IntervertebralDiscStructureOfSecondLumbarVertebra",
    "L1-L2": "IntervertebralDiscStructureOfFirstLumbarVertebra",
    "T12-L1": "IntervertebralDiscStructureOfTwelfthThoracicVertebra",
    "T11-T12": "IntervertebralDiscStructureOfEleventhThoracicVertebra",
    "T10-T11": "IntervertebralDiscStructureOfTenthThoracicVertebra",
    "T9-T10": "IntervertebralDiscStructureOfNinthThoracicVertebra",
    "T8-T9": "IntervertebralDiscStructureOfEighthThoracicVertebra",
}


def private_code(value: str, meaning: str):
    """A highdicom CodedConcept in :data:`PRIVATE_SCHEME` (meaning cut to DICOM's 64 characters)."""
    import highdicom as hd  # lazy: highdicom is heavy; only DICOM input/output needs it

    return hd.sr.CodedConcept(str(value), PRIVATE_SCHEME, str(meaning)[:64])


def class_code(prediction: str):
    """The private code of a prediction ("MC0", "MC1", "MC2" or "not graded")."""
    value = _CLASS_VALUES.get(prediction, str(prediction).upper().replace(" ", "")[:16])
    return private_code(value, CLASS_MEANINGS.get(prediction, str(prediction)))


#: Qualitative values of the "Grading certainty" evaluation: the level's "uncertain" flag (more than one grade
#: in its conformal prediction set), or None when the weights carry no conformal calibration (no set).
CERTAINTY_MEANINGS = {True: "Uncertain (more than one grade in the prediction set)",
                      False: "One grade in the prediction set",
                      None: "No prediction set (no conformal calibration)"}
_CERTAINTY_VALUES = {True: "SETMULTI", False: "SETSINGLE", None: "NOSET"}  # distinct from naming's "UNCERTAIN"


def certainty_code(uncertain: bool | None):
    """The private code of a graded level's "uncertain" flag (None: the level has no prediction set)."""
    key = None if uncertain is None else bool(uncertain)
    return private_code(_CERTAINTY_VALUES[key], CERTAINTY_MEANINGS[key])


def set_member_concept():
    """The name of the qualitative evaluation that lists one grade of a level's prediction set (one item per grade)."""
    return private_code("MODIC-SET", "Grade in prediction set")


def coding_scheme_item():
    """The CodingSchemeIdentificationSequence item that declares :data:`PRIVATE_SCHEME`."""
    # lazy: highdicom is heavy; only DICOM input/output needs it
    from highdicom.coding_schemes import CodingSchemeIdentificationItem

    return CodingSchemeIdentificationItem(
        designator=PRIVATE_SCHEME, name=PRIVATE_SCHEME_NAME, version=PRIVATE_SCHEME_VERSION,
        responsible_organization="modic_core project",
    )


def level_finding_site(level: str):
    """SNOMED CT code of the level's intervertebral disc (None for names other than T8-T9 .. L5-S1)."""
    # lazy: highdicom and pydicom are heavy; only DICOM input/output needs it
    import highdicom as hd
    from pydicom.sr.codedict import codes

    name = _DISC_CODES.get(level)
    if not name:
        return None
    code = getattr(codes.SCT, name)
    meaning = code.meaning.replace(" (body structure)", "")[:64]
    return hd.sr.CodedConcept(code.value, code.scheme_designator, meaning)
