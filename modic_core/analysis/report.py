"""Results of analysing one study: typed, JSON-exportable containers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modic_core.analysis.signal_probe import LevelSignal
from modic_core.classification.conformal import set_label
from modic_core.schema import StudyReportRecord

#: Display names of :meth:`LevelResult.row` columns in tables and CSV files.
DISPLAY_COLUMNS = {"score": "confidence", "p_mc0": "P(MC0)", "p_mc1": "P(MC1)", "p_mc2": "P(MC2)"}
#: Columns of :meth:`StudyReport.table` (the app's per-level table).
TABLE_COLUMNS = ["level", "confidence", "P(MC0)", "P(MC1)", "P(MC2)", "grade set", "prediction", "uncertain"]
#: What "uncertain" means, for captions, PDF and SR text.
UNCERTAIN_TEXT = ("uncertain: more than one grade in the level's prediction set (the grades the model cannot rule out "
                  "at the chosen coverage; model card); read this level yourself")
#: How a prediction set is written in CSV and Parquet cells (``"MC0|MC2"``; ``""`` when there is none).
SET_SEPARATOR = "|"

__all__ = ["CLASS_NAMES", "DISPLAY_COLUMNS", "SET_SEPARATOR", "TABLE_COLUMNS", "UNCERTAIN_TEXT", "HeatPatch", "LevelResult", "LocalHeatmap", "StudyReport"]

CLASS_NAMES = ("MC0", "MC1", "MC2")


@dataclass(frozen=True)
class HeatPatch:
    """Part of a heat map on one slice: ``values`` (h, w) float32 in [0, 1] whose pixel (0, 0)
    is T1 pixel (``z``, ``row0``, ``col0``)."""

    z: int
    row0: int
    col0: int
    values: np.ndarray


@dataclass(frozen=True)
class LocalHeatmap:
    """A Grad-CAM map kept crop-local: the patches under the region's crop on the T1 grid ``shape``
    (z, y, x); zero elsewhere. A few hundred kB instead of a full-volume float32 array; it is
    pasted onto a slice only when drawn (:meth:`plane`) or onto the volume on request (:meth:`dense`).
    Patches are read-only (shared between reports of the same cached analysis).
    """

    shape: tuple[int, int, int]
    patches: tuple[HeatPatch, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(v) for v in self.shape))
        for p in self.patches:
            p.values.flags.writeable = False

    @property
    def nbytes(self) -> int:
        return sum(int(p.values.nbytes) for p in self.patches)

    @property
    def z_slices(self) -> list[int]:
        """Slices with a patch, ascending."""
        return sorted({p.z for p in self.patches})

    def max_into(self, out: np.ndarray | None, z: int) -> np.ndarray | None:
        """Element-wise maximum of ``out`` (y, x) and this map on slice ``z``; a new zero plane if
        ``out`` is None and the slice has a patch; ``out`` unchanged when it has none."""
        for p in self.patches:
            if p.z != z:
                continue
            if out is None:
                out = np.zeros(self.shape[1:], np.float32)
            h, w = p.values.shape
            region = out[p.row0 : p.row0 + h, p.col0 : p.col0 + w]
            np.maximum(region, p.values[: region.shape[0], : region.shape[1]], out=region)
        return out

    def plane(self, z: int) -> np.ndarray | None:
        """The map on slice ``z`` as (y, x) float32, or None when the region has no patch there."""
        return self.max_into(None, z)

    def dense(self) -> np.ndarray:
        """The whole map as float32 (z, y, x) on the T1 grid (allocates the full volume)."""
        out = np.zeros(self.shape, np.float32)
        for z in self.z_slices:
            self.max_into(out[z], z)
        return out

    @classmethod
    def from_dense(cls, volume: np.ndarray) -> "LocalHeatmap":
        """The non-zero bounding box of each slice of a (z, y, x) (or (y, x)) map, as patches."""
        vol = np.asarray(volume, dtype=np.float32)
        vol = vol[None] if vol.ndim == 2 else vol
        patches = []
        for z in range(vol.shape[0]):
            ys, xs = np.nonzero(vol[z])
            if len(ys):
                y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
                patches.append(HeatPatch(z, int(y0), int(x0), vol[z, y0:y1, x0:x1].copy()))
        return cls(vol.shape, tuple(patches))


@dataclass
class LevelResult:
    """One intervertebral level.

    ``box`` = (x0, y0, x1, y1) in T1 pixels (x = column, y = row); ``z_range`` = first and last
    slice of its slab; ``score`` = detector confidence; ``probabilities`` over MC0/MC1/MC2;
    ``heatmap`` = Grad-CAM of the predicted class, float32 in [0, 1], shaped like the T1 grid
    (z, y, x), zero outside the region's crop. ``p_values``: the conformal p-value of each grade
    (:mod:`modic_core.classification.conformal`), ``{}`` when not graded or the weights carry no conformal
    calibration; ``prediction_set``: the grades whose p-value exceeds ``1 - coverage`` (the report's
    ``coverage``), in MC0, MC1, MC2 order, ``()`` in the same cases. ``uncertain``: the set holds more
    than one grade; never set on an ungraded level or without a set. ``signal``: the Modic signal probe
    (:mod:`modic_core.analysis.signal_probe`) of a graded level, None otherwise.
    """

    level: str
    box: tuple[float, float, float, float]
    score: float
    probabilities: dict[str, float]
    prediction: str
    z_range: tuple[int, int] = (0, 0)
    gradcam: LocalHeatmap | None = None
    graded: bool = True  # False: no grade (``note`` says why, e.g. T2 does not cover this level)
    note: str = ""
    uncertain: bool = False
    detected_level: str = ""  # the detector's name when the user corrected ``level``; "" otherwise
    prediction_set: tuple[str, ...] = ()
    p_values: dict[str, float] = field(default_factory=dict)
    signal: LevelSignal | None = None

    def __post_init__(self) -> None:
        if self.gradcam is not None and not isinstance(self.gradcam, LocalHeatmap):
            self.gradcam = LocalHeatmap.from_dense(self.gradcam)

    @property
    def heatmap(self) -> np.ndarray | None:
        """Grad-CAM as float32 (z, y, x) on the T1 grid in [0, 1] (a new full-volume array per call)."""
        return None if self.gradcam is None else self.gradcam.dense()

    def row(self, *, digits: int = 4) -> dict[str, Any]:
        """The level as one flat table row, the one layout every table, CSV and PDF of a report uses:
        ``level, prediction, uncertain, prediction_set`` (``"MC0|MC2"``, :data:`SET_SEPARATOR`), ``p_mc0, p_mc1, p_mc2,
        score, x0, y0, x1, y1`` (T1 pixels), ``z0, z1``, ``graded, note``."""
        p = {c: self.probabilities.get(c, float("nan")) for c in CLASS_NAMES}
        x0, y0, x1, y1 = (round(float(v), 2) for v in self.box)
        return {
            "level": self.level, "prediction": self.prediction, "uncertain": bool(self.uncertain),
            "prediction_set": SET_SEPARATOR.join(self.prediction_set),
            **{f"p_{c.lower()}": round(float(p[c]), digits) for c in CLASS_NAMES},
            "score": round(float(self.score), digits),
            "x0": x0, "y0": y0, "x1": x1, "y1": y1, "z0": int(self.z_range[0]), "z1": int(self.z_range[1]),
            "graded": bool(self.graded), "note": self.note,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
            "prediction": self.prediction,
            "z_range": list(self.z_range),
            "graded": bool(self.graded),
            "note": self.note,
            "uncertain": bool(self.uncertain),
            "detected_level": self.detected_level,
            "prediction_set": list(self.prediction_set),
            "p_values": {k: round(float(v), 4) for k, v in self.p_values.items()},
            **({} if self.signal is None else {"signal": self.signal.to_dict()}),  # absent: no probe (older reports too)
        }


@dataclass
class StudyReport:
    """Per-level results, ordered top to bottom, plus provenance and timings (seconds)."""

    levels: list[LevelResult]
    normalization: str
    threshold: float
    weights: dict[str, str] = field(default_factory=dict)  # stage -> "file (sha256 prefix)"
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    shape: tuple[int, int, int] = (0, 0, 0)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # plain sentences shown above the results
    alignment: Any = None  # modic_core.pairing.alignment.Alignment of the T1/T2 check, if run
    naming_uncertain: bool = False  # the level names could not be fixed with confidence (see warnings)
    names_corrected_by_user: bool = False  # level names changed in the viewer (analysis.naming_correction)
    naming_correction: str = ""  # what was changed, e.g. "all names shifted up by one level"
    heat_scale: str = ""  # what the Grad-CAM colour bar means (variant, fixed or per-level scale); "" without maps
    heat_fixed: bool = False  # True: maps share one fixed scale (the colour bar means the same in every level and study)
    pairing_override: str = ""  # identity checks the user chose to grade despite, e.g. "study, age/sex" (never the values)
    coverage: float | None = None  # the levels' prediction sets are for this coverage; None: no sets (no conformal calibration)

    @property
    def naming_note(self) -> str:
        """"Level names corrected by the user: <what>." or "" (shown on screen and in every export)."""
        return f"Level names corrected by the user: {self.naming_correction}." if self.names_corrected_by_user else ""

    @property
    def reliable(self) -> bool:
        """False when the T1/T2 alignment check failed: grades that need T2 cannot be trusted."""
        return self.alignment is None or bool(getattr(self.alignment, "ok", True))

    def to_dict(self) -> dict[str, Any]:
        return {
            **StudyReportRecord.header(),  # schema, schema_version: read back with StudyReportRecord.from_dict
            "normalization": self.normalization,
            "threshold": self.threshold,
            "device": self.device,
            "weights": dict(self.weights),
            "timings_s": {k: round(float(v), 4) for k, v in self.timings.items()},
            "levels": [lv.to_dict() for lv in self.levels],
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            **({} if self.alignment is None else {"alignment": self.alignment.to_dict()}),
            "reliable": self.reliable,
            "naming_uncertain": bool(self.naming_uncertain),
            "names_corrected_by_user": bool(self.names_corrected_by_user),
            "naming_correction": self.naming_correction,
            "pairing_override": self.pairing_override,
            **({} if self.coverage is None else {"coverage": float(self.coverage)}),  # absent: no prediction sets
        }

    def table(self):
        """Per-level table as a pandas DataFrame with :data:`TABLE_COLUMNS`; no rows when no level was found.
        "grade set" reads as :func:`~modic_core.classification.conformal.set_label` writes it ("MC0 or MC2")."""
        import pandas as pd  # lazy: pandas is heavy; only the table path needs it

        rows = [{**lv.row(digits=3), "grade set": set_label(lv.prediction_set)} for lv in self.levels]
        empty = LevelResult(level="", box=(0.0, 0.0, 0.0, 0.0), score=0.0, probabilities={}, prediction="")
        df = pd.DataFrame(rows, columns=list(rows[0] if rows else {**empty.row(), "grade set": ""}))
        return df.rename(columns=DISPLAY_COLUMNS)[TABLE_COLUMNS]
