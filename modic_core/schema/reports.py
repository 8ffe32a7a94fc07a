"""One analysed study's report (``StudyReport.to_dict``, :mod:`modic_core.analysis.report`)."""
from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from modic_core.schema.base import Document, Record

__all__ = ["LevelSignalRecord", "LevelRecord", "AlignmentRecord", "StudyReportRecord"]


class LevelSignalRecord(Record):
    """A level's Modic signal probe (:mod:`modic_core.analysis.signal_probe`): ``<seq>_<side>_<band>`` mean signal
    in the normalization's units, ``<seq>_<side>_ratio`` endplate / vertebral-centre ratio (raw signal); a number
    is absent where its band fell outside the image or was empty (``notes`` says why)."""

    t1_upper_endplate: float | None = None
    t2_upper_endplate: float | None = None
    t1_upper_centre: float | None = None
    t2_upper_centre: float | None = None
    t1_lower_endplate: float | None = None
    t2_lower_endplate: float | None = None
    t1_lower_centre: float | None = None
    t2_lower_centre: float | None = None
    t1_upper_ratio: float | None = None
    t2_upper_ratio: float | None = None
    t1_lower_ratio: float | None = None
    t2_lower_ratio: float | None = None
    notes: list[str] = Field(default_factory=list)


class LevelRecord(Record):
    """One level of a study report: box (x0, y0, x1, y1) in T1 pixels, z_range first/last slice."""

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

    level: str
    box: list[float]
    score: float
    probabilities: dict[str, float]
    prediction: str
    z_range: list[int]
    graded: bool = True  # False: not graded (e.g. T2 does not cover the level); see ``note``
    note: str = ""
    uncertain: bool = False  # more than one grade in the prediction set (older reports: top probability below a threshold)
    detected_level: str = ""  # the detector's name when the user corrected ``level``
    prediction_set: list[str] = Field(default_factory=list)  # grades in the conformal prediction set (MC0, MC1, MC2 order)
    p_values: dict[str, float] = Field(default_factory=dict)  # conformal p-value per grade; {} without calibration
    signal: LevelSignalRecord | None = None  # the Modic signal probe of a graded level; absent in older reports


class AlignmentRecord(Record):
    """The T1/T2 alignment check (:class:`modic_core.pairing.alignment.Alignment`); distances in mm."""

    method: str
    translation_mm: list[float]
    residual_mm: float | None
    discs_matched: int
    discs_t1: int
    ok: bool
    header_trusted: bool = True
    header_residual_mm: float | None = None
    header_discs_matched: int = 0
    # later additions (older reports load without them): through-plane offset and content checks
    through_plane_mm: float | None = None
    through_plane_residual_mm: float | None = None
    contrast_score: float | None = None
    similarity: float | None = None
    flip_gain: float | None = None
    problems: list[str] = Field(default_factory=list)
    in_plane_ok: bool | None = None
    through_plane_note: str = ""


class StudyReportRecord(Document):
    """One analysed study (:meth:`modic_core.analysis.report.StudyReport.to_dict`).

    Version 2 added ``warnings`` (plain sentences), ``alignment``, ``reliable`` and per-level ``graded``/``note``;
    later fields with defaults (older reports load): ``naming_uncertain``, ``names_corrected_by_user``,
    ``naming_correction``, per-level ``detected_level`` and ``pairing_override`` (the identity checks,
    e.g. ``"study, age/sex"``, on which T1 and T2 differed and the user chose to grade anyway; never their values),
    per-level ``prediction_set`` / ``p_values`` and the sets' ``coverage``, per-level ``signal`` (the probe).
    """

    model_config = ConfigDict(extra="allow")  # keys it does not name are kept (round trip)

    KIND: ClassVar[str] = "study_report"
    VERSION: ClassVar[int] = 2

    normalization: str
    threshold: float
    levels: list[LevelRecord]
    device: str | None = None
    weights: dict[str, str] | None = None
    timings_s: dict[str, float] | None = None
    notes: list[str] | None = None
    warnings: list[str] = Field(default_factory=list)
    alignment: AlignmentRecord | None = None
    reliable: bool = True
    naming_uncertain: bool = False
    names_corrected_by_user: bool = False  # level names corrected in the viewer; ``naming_correction`` says how
    naming_correction: str = ""
    pairing_override: str = ""  # "" or the identity checks the user chose to grade despite ("study", "date", "age/sex")
    coverage: float | None = None  # coverage of the levels' prediction sets; None: no sets (no conformal calibration)
