"""Seeded synthetic phantoms: paired sagittal T1/T2 lumbar spines with Modic lesions.

Geometry follows the spider2d exports: array axes (z, y, x) = (slice, row, column) with
columns running anterior -> posterior, rows superior -> inferior and slices left -> right
(ITK direction "PIR": columns of ``direction`` are (0, 1, 0), (0, 0, -1), (-1, 0, 0) in LPS).
Spacing is in mm in (z, y, x) order.

Anatomy (mid-sagittal, with lateral tapering across slices): vertebral bodies with cortical
rims and endplates, discs (annulus and nucleus), sacrum, spinal canal with CSF, posterior
elements, paraspinal muscle, subcutaneous fat, prevertebral vessels and abdominal contents,
on a gentle lordotic curve. Modic lesions are bands of marrow beside a chosen endplate:

- type 1 (oedema): T1 darker, T2 brighter
- type 2 (fat): T1 brighter, T2 iso to brighter
- type 3 (sclerosis): T1 and T2 darker

Scanner-like variation: smooth multiplicative bias field, gain, offset and Rician noise.
Ground truth per disc level: Modic grade, endplate(s), a box (x0, y0, x1, y1) in pixel-edge
coordinates (pixel i spans [i, i+1)) covering the disc and both adjacent endplates, like the
spider2d boxes, and the slice range. ``Phantom.labels`` is a SPIDER-style label map
(vertebra i = 1 for L5 counting upward, disc 200 + i under vertebra i, canal 100; the sacrum
is left unlabelled).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from modic_core.anatomy import LEVEL_NAMES
from modic_core.datasets.cohort import LevelLabel
from modic_core.volume import Study, Volume, VolumeMeta
from modic_core.io.dicom_write import write_dicom_series, deterministic_uid
from modic_core.io.images import write_image
from modic_core.pairing.study import make_study

__all__ = [
    "DEFAULT_MODIC",
    "PIR_DIRECTION",
    "LevelTruth",
    "Phantom",
    "ScannerVariation",
    "SequenceParams",
    "make_phantom",
    "make_phantom_2d",
]

# Columns: x (column) -> posterior, y (row) -> inferior, z (slice) -> right, in LPS.
PIR_DIRECTION = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

DEFAULT_MODIC: dict[str, tuple[int, str]] = {"L4-L5": (2, "both"), "L5-S1": (1, "upper")}

# Tissue classes and their baseline (T1, T2) signal on a 0..1000 scale.
AIR, FAT, MUSCLE, MARROW, CORTEX, ANNULUS, NUCLEUS, CSF, POST_BONE, VISCERA, VESSEL, SACRUM, LIGAMENT, NUCLEUS_DEGEN = range(14)
_SIGNAL = np.array(
    [
        (0, 0),  # air
        (850, 620),  # fat
        (330, 230),  # muscle
        (560, 380),  # vertebral marrow
        (90, 70),  # cortical bone / endplate
        (280, 170),  # annulus
        (320, 820),  # nucleus pulposus (healthy)
        (140, 950),  # CSF
        (520, 360),  # posterior elements
        (380, 430),  # abdominal contents
        (60, 50),  # vessel flow void
        (600, 400),  # sacral marrow
        (120, 110),  # ligament
        (300, 380),  # degenerated nucleus
    ],
    dtype=np.float32,
)
# Multiplicative change of marrow signal (T1, T2) per Modic type.
_MODIC_FACTOR = {1: (0.5, 1.75), 2: (1.5, 1.3), 3: (0.3, 0.35)}
_ENDPLATES = ("upper", "lower", "both")


@dataclass(frozen=True)
class SequenceParams:
    """Acquisition metadata written into the series (times in ms, field in tesla)."""

    t1_tr_ms: float = 550.0
    t1_te_ms: float = 11.0
    t2_tr_ms: float = 3500.0
    t2_te_ms: float = 100.0
    field_strength_t: float = 1.5
    manufacturer: str = "modic_core synthetic"


@dataclass(frozen=True)
class ScannerVariation:
    """Scanner-like intensity variation applied to the ideal phantom.

    ``bias``: peak-to-peak log amplitude of the smooth bias field; ``noise``: Rician noise
    sigma as a fraction of 1000 (the phantom's nominal full scale).
    """

    gain_t1: float = 1.0
    gain_t2: float = 1.0
    offset_t1: float = 0.0
    offset_t2: float = 0.0
    bias: float = 0.25
    noise: float = 0.02

    @classmethod
    def sample(cls, rng: np.random.Generator, amount: float = 1.0) -> "ScannerVariation":
        """Random variation; ``amount`` = 0 gives a clean, noise-free phantom."""
        u = rng.uniform(-1.0, 1.0, size=4)
        return cls(
            gain_t1=float(np.exp(0.3 * amount * u[0])),
            gain_t2=float(np.exp(0.3 * amount * u[1])),
            offset_t1=float(20.0 * amount * (u[2] + 1.0)),
            offset_t2=float(20.0 * amount * (u[3] + 1.0)),
            bias=float(0.25 * amount),
            noise=float(0.02 * amount),
        )


@dataclass(frozen=True)
class LevelTruth:
    """Ground truth of one disc level (boxes in T1 pixel-edge coordinates, x = column, y = row)."""

    level: str
    ivd_label: int  # SPIDER numbering: 1 = L5-S1, counting upward
    modic: int  # 0 none, 1, 2, 3
    endplate: str | None  # 'upper', 'lower', 'both', or None when modic == 0
    box: tuple[float, float, float, float]
    z_range: tuple[int, int]  # inclusive slice range where the disc is present
    lesion_z_range: tuple[int, int] | None = None  # inclusive slice range of the lesion

    @property
    def up_endplate(self) -> int:
        return int(self.endplate in ("upper", "both"))

    @property
    def low_endplate(self) -> int:
        return int(self.endplate in ("lower", "both"))

    def to_label(self) -> LevelLabel:
        """As a cohort :class:`LevelLabel`."""
        return LevelLabel(
            self.level, self.ivd_label, self.modic, self.box, self.z_range,
            extra={"up_endplate": self.up_endplate, "low_endplate": self.low_endplate},
        )


@dataclass
class Phantom:
    """A synthetic paired study: T1 and T2 on the same sagittal grid, with ground truth.

    ``labels``: uint16 (z, y, x) SPIDER-style label map; ``lesion_mask``: bool (z, y, x);
    ``levels``: per-disc truth, top to bottom; ``uids``: DICOM UIDs used by :meth:`write`.
    """

    t1: Volume
    t2: Volume
    levels: list[LevelTruth]
    labels: np.ndarray
    lesion_mask: np.ndarray
    seed: int
    uids: dict[str, str] = field(default_factory=dict)

    @property
    def patient_name(self) -> str:
        return f"PHANTOM^SEED{self.seed}"

    def level(self, name: str) -> LevelTruth:
        for lv in self.levels:
            if lv.level == name:
                return lv
        raise KeyError(name)

    def to_study(self) -> Study:
        """The pair as a :class:`~modic_core.volume.Study` (grids already match)."""
        return make_study(self.t1, self.t2, sources={"t1": "synthetic T1", "t2": "synthetic T2"},
                          study_id=f"phantom-{self.seed}")

    def write(self, folder: str | Path, fmt: str = "dicom") -> dict[str, Path]:
        """Write both series to ``folder``; returns {"t1": path, "t2": path}.

        ``fmt``: "dicom" (folders ``t1/`` and ``t2/``, one file per slice, shared study and
        frame of reference), "nifti" (``t1.nii.gz``, ``t2.nii.gz``) or "mha".
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fmt = fmt.lower()
        if fmt == "dicom":
            out = {}
            for i, (key, vol) in enumerate((("t1", self.t1), ("t2", self.t2))):
                write_dicom_series(
                    vol, folder / key,
                    series_number=i + 1,
                    study_uid=self.uids["study"],
                    series_uid=self.uids[key],
                    frame_of_reference_uid=self.uids["frame_of_reference"],
                    patient_id=f"PHANTOM-SEED{self.seed}",
                    patient_name=self.patient_name,
                    study_description="Synthetic lumbar spine phantom",
                    uid_seed=f"{self.uids['study']}/{key}",
                )
                out[key] = folder / key
            return out
        suffix = {"nifti": ".nii.gz", "nii": ".nii.gz", "mha": ".mha"}.get(fmt)
        if suffix is None:
            raise ValueError(f"unknown format {fmt!r}; use 'dicom', 'nifti' or 'mha'")
        return {key: write_image(vol, folder / f"{key}{suffix}") for key, vol in (("t1", self.t1), ("t2", self.t2))}


# --------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------


def make_phantom(
    *,
    seed: int = 0,
    shape: tuple[int, int, int] = (15, 256, 256),
    spacing: tuple[float, float, float] = (4.0, 1.0, 1.0),
    modic: Mapping[str, int | tuple[int, str]] | None = None,
    n_levels: int = 6,
    variation: float = 1.0,
    scanner: ScannerVariation | None = None,
    sequence: SequenceParams | None = None,
    blur: bool = True,
    degenerate_discs: bool = True,
) -> Phantom:
    """Paired sagittal T1/T2 phantom.

    Args:
        seed: makes anatomy, lesions and scanner variation reproducible.
        shape: (z, y, x) voxels; spacing: (z, y, x) mm.
        modic: {level name: (grade, 'upper'|'lower'|'both')} or {level: grade} (= 'both');
            None uses :data:`DEFAULT_MODIC`, {} gives no lesions. 'upper' is the endplate of
            the vertebra above the disc, 'lower' the one below (the sacrum for L5-S1).
        n_levels: labelled discs counted up from L5-S1 (6 = T12-L1 .. L5-S1).
        degenerate_discs: draw discs at lesion levels thinner with a darker nucleus (as in real
            degenerated discs); False makes the marrow lesion the only cue (used by Grad-CAM tests).
        variation: scale of the sampled scanner variation (0 = clean); ignored if ``scanner``.
        sequence: TR/TE/field metadata; default T1 TSE 550/11 ms, T2 TSE 3500/100 ms, 1.5 T.
    """
    if not 1 <= n_levels <= len(LEVEL_NAMES):
        raise ValueError(f"n_levels must be 1..{len(LEVEL_NAMES)}")
    nz, ny, nx = (int(s) for s in shape)
    sz, sy, sx = (float(s) for s in spacing)
    rng = np.random.default_rng(seed)
    spec = _parse_modic(DEFAULT_MODIC if modic is None else modic, n_levels)
    degenerate = frozenset(ivd - 1 for ivd, (g, _) in spec.items() if g) if degenerate_discs else frozenset()
    anat = _Anatomy.sample(rng, n_levels=n_levels, fov_v=ny * sy, fov_u=nx * sx, degenerate=degenerate)
    scanner = scanner or ScannerVariation.sample(rng, variation)
    sequence = sequence or SequenceParams()

    # Per-pixel spine coordinates on the sagittal plane (identical for every slice).
    v = (np.arange(ny, dtype=np.float32) + 0.5) * sy
    u = (np.arange(nx, dtype=np.float32) + 0.5) * sx
    s, d = anat.frame(u, v)  # (ny, nx): along-spine and AP distance from the axis, mm
    j, r = anat.nearest_disc(s)  # index of nearest disc (0 = lowest) and offset from its centre
    zmm = (np.arange(nz, dtype=np.float32) - (nz - 1) / 2.0) * sz  # + = right

    tissue, labels = anat.tissues(u, v, s, d, j, r, zmm)
    lesion_ids, lesion_grade = anat.lesions(s, d, j, r, zmm, spec, rng)
    lesion_ids[(tissue != MARROW) & (tissue != SACRUM)] = 0  # lesions live in marrow only
    lesion = lesion_ids > 0
    lesion_grade[~lesion] = 0
    lesion_z = {ivd: _zrange(np.any(lesion_ids == ivd, axis=(1, 2))) for ivd, (g, _) in spec.items() if g}

    t1, t2 = _signals(tissue, lesion, lesion_grade, rng, blur=blur)
    t1, t2 = _apply_scanner(t1, t2, scanner, rng)

    levels = []
    for i in range(n_levels, 0, -1):  # top to bottom
        name = LEVEL_NAMES[i - 1]
        grade, ep = spec.get(i, (0, None))
        levels.append(LevelTruth(
            level=name, ivd_label=i, modic=grade, endplate=ep,
            box=anat.level_box(i - 1, s, d, j, r, sx, sy),
            z_range=_zrange(np.abs(zmm) < anat.disc_halfwidth),
            lesion_z_range=lesion_z.get(i),
        ))

    uids = _uids(seed)
    origin = _centred_origin((nz, ny, nx), (sz, sy, sx))
    common = dict(
        modality="MR", manufacturer=sequence.manufacturer, field_strength_t=sequence.field_strength_t,
        frame_of_reference_uid=uids["frame_of_reference"], source="synthetic",
        patient_hash=hashlib.sha256(f"PHANTOM^SEED{seed}".encode()).hexdigest()[:16],
    )
    meta1 = VolumeMeta(series_description="T1 TSE SAG (synthetic)", sequence="T1",
                       repetition_time_ms=sequence.t1_tr_ms, echo_time_ms=sequence.t1_te_ms, **common)
    meta2 = VolumeMeta(series_description="T2 TSE SAG (synthetic)", sequence="T2",
                       repetition_time_ms=sequence.t2_tr_ms, echo_time_ms=sequence.t2_te_ms, **common)
    vol1 = Volume(t1, (sz, sy, sx), origin, PIR_DIRECTION.copy(), meta1)
    vol2 = Volume(t2, (sz, sy, sx), origin, PIR_DIRECTION.copy(), meta2)
    return Phantom(vol1, vol2, levels, labels, lesion, int(seed), uids)


def make_phantom_2d(
    *,
    seed: int = 0,
    shape: tuple[int, int] = (320, 320),
    spacing: tuple[float, float] = (0.875, 0.875),
    slice_thickness: float = 4.0,
    **kwargs,
) -> Phantom:
    """Single mid-sagittal slice pair (1, H, W) resembling spider2d: each image min-max
    stretched to 0..255 and rounded (8-bit range, stored as float32). ``shape`` and
    ``spacing`` are (rows, columns) and mm; other keywords go to :func:`make_phantom`."""
    ph = make_phantom(seed=seed, shape=(1, *shape), spacing=(slice_thickness, *spacing), **kwargs)

    def to8(vol: Volume) -> Volume:
        a = vol.array
        lo, hi = float(a.min()), float(a.max())
        return vol.with_array(np.round((a - lo) * (255.0 / max(hi - lo, 1e-6))))

    return replace(ph, t1=to8(ph.t1), t2=to8(ph.t2))


# --------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------


def _parse_modic(spec: Mapping[str, int | tuple[int, str]], n_levels: int) -> dict[int, tuple[int, str | None]]:
    """{level name: (grade, endplate)} -> {ivd_label: (grade, endplate)}."""
    out: dict[int, tuple[int, str | None]] = {}
    for name, val in spec.items():
        if name not in LEVEL_NAMES[:n_levels]:
            raise ValueError(f"level {name!r} is not among the {n_levels} phantom levels {LEVEL_NAMES[:n_levels]}")
        grade, ep = (val, "both") if isinstance(val, (int, np.integer)) else (int(val[0]), str(val[1]))
        if grade not in (0, 1, 2, 3):
            raise ValueError(f"Modic grade must be 0..3, got {grade}")
        if grade and ep not in _ENDPLATES:
            raise ValueError(f"endplate must be one of {_ENDPLATES}, got {ep!r}")
        out[LEVEL_NAMES.index(name) + 1] = (int(grade), ep if grade else None)
    return out


@dataclass
class _Anatomy:
    """Sampled sagittal anatomy in mm. Discs are indexed from the bottom (0 = L5-S1)."""

    disc_centre: np.ndarray  # along-spine position of each disc centre, mm (decreasing upward)
    disc_half: np.ndarray  # half heights, mm
    body_height: np.ndarray  # height of the body above each disc, mm
    sacrum_top: float
    axis_u0: float  # AP position of the axis at the top, mm
    lordosis: float  # mm of anterior bulge at mid-lumbar
    sacral_slope: float
    body_half_depth: float = 17.0
    body_halfwidth: float = 25.0  # lateral half-width of bodies, mm
    disc_halfwidth: float = 24.0
    canal_depth: float = 14.0
    canal_halfwidth: float = 10.0
    endplate_concavity: float = 1.2
    n_levels: int = 6
    degenerate: frozenset[int] = frozenset()  # disc indices with a degenerated, thinner disc

    @classmethod
    def sample(cls, rng: np.random.Generator, *, n_levels: int, fov_v: float, fov_u: float,
               degenerate: frozenset[int] = frozenset()) -> "_Anatomy":
        top, bottom = 0.05 * fov_v, 0.80 * fov_v
        unit = (bottom - top) / (n_levels + 0.35)
        unit = float(np.clip(unit, 22.0, 42.0))
        sacrum_top = bottom + rng.uniform(-0.02, 0.02) * fov_v
        centres, halves, heights = [], [], []
        pos = sacrum_top
        k = 0
        while pos > -unit or k <= n_levels:  # all labelled levels, then on until off the image
            disc_h = unit * rng.uniform(0.24, 0.30) * (0.85 if k == 0 else 1.0) * (0.8 if k in degenerate else 1.0)
            centres.append(pos - disc_h / 2.0)
            halves.append(disc_h / 2.0)
            body_h = unit - disc_h
            heights.append(body_h)
            pos -= unit
            k += 1
        return cls(
            disc_centre=np.array(centres, dtype=np.float32),
            disc_half=np.array(halves, dtype=np.float32),
            body_height=np.array(heights, dtype=np.float32),
            sacrum_top=float(sacrum_top),
            axis_u0=float(fov_u * rng.uniform(0.55, 0.60)),
            lordosis=float(rng.uniform(6.0, 12.0)),
            sacral_slope=float(rng.uniform(0.45, 0.7)),
            n_levels=n_levels,
            degenerate=frozenset(degenerate),
        )

    # ---- coordinates ----
    def axis(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """AP position c(v) of the spine axis and its slope dc/dv."""
        L = self.sacrum_top
        t = np.clip(v / L, 0.0, 1.0)
        c = self.axis_u0 - self.lordosis * np.sin(np.pi * t)
        dc = np.where((v > 0) & (v < L), -self.lordosis * np.pi / L * np.cos(np.pi * t), 0.0)
        w = 12.0  # smooth onset of the sacral slope (softplus width, mm)
        x = (v - L) / w
        sp = np.logaddexp(0.0, x) * w
        c = c + self.sacral_slope * sp
        dc = dc + self.sacral_slope / (1.0 + np.exp(-x))
        return c.astype(np.float32), dc.astype(np.float32)

    def frame(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local (s, d) per pixel: s along the spine (mm, ~v), d AP from the axis (+ posterior)."""
        c, dc = self.axis(v)
        norm = np.sqrt(1.0 + dc**2)
        w = u[None, :] - c[:, None]
        s = v[:, None] + w * (dc / norm)[:, None]
        d = w / norm[:, None]
        return s.astype(np.float32), d.astype(np.float32)

    def nearest_disc(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cen = self.disc_centre[::-1]  # increasing
        idx = np.clip(np.searchsorted(cen, s), 1, len(cen) - 1)
        lo, hi = cen[idx - 1], cen[idx]
        pick = np.where(np.abs(s - lo) < np.abs(s - hi), idx - 1, idx)
        j = (len(cen) - 1 - pick).astype(np.int16)  # back to bottom-up numbering
        return j, (s - self.disc_centre[j]).astype(np.float32)

    def _disc_limit(self, j: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Half height of disc j at AP offset d, with concave endplates (mm)."""
        q = np.clip(d / self.body_half_depth, -1.0, 1.0)
        return self.disc_half[j] + self.endplate_concavity * (1.0 - q**2)

    # ---- tissues ----
    def tissues(self, u, v, s, d, j, r, zmm) -> tuple[np.ndarray, np.ndarray]:
        """Tissue classes and SPIDER-style labels, both (z, y, x)."""
        nz = len(zmm)
        ny, nx = s.shape
        lim = self._disc_limit(j, d)
        ar = np.abs(r)
        in_spine_s = ~((j == 0) & (r > lim))  # everything above the sacrum
        # lateral profiles (per slice)
        zb = np.clip(1.0 - (zmm / self.body_halfwidth) ** 2, 0.0, None)
        hd_body = (self.body_half_depth * np.sqrt(zb))[:, None, None]  # (nz,1,1)
        zd = np.clip(1.0 - (zmm / self.disc_halfwidth) ** 2, 0.0, None)
        hd_disc = ((self.body_half_depth + 1.5) * np.sqrt(zd))[:, None, None]
        zabs = np.abs(zmm)[:, None, None]

        tissue = np.full((nz, ny, nx), AIR, dtype=np.uint8)

        def put(mask: np.ndarray, value: int) -> None:
            tissue[np.broadcast_to(mask, tissue.shape)] = value

        D = d[None]
        # body outline in absolute AP position (skin curves only half as much as the spine)
        c, _ = self.axis(v)
        cs = (self.axis_u0 + 0.5 * (c - self.axis_u0))[:, None]
        U = u[None, :] - cs  # (ny, nx), AP mm relative to the skin reference line
        ant_skin = -self.body_half_depth - 115.0
        post_skin = self.body_half_depth + 80.0
        inside = ((U > ant_skin) & (U < post_skin))[None]
        put(inside & (U < ant_skin + 14.0)[None], FAT)
        put(inside & (U >= ant_skin + 14.0)[None] & (D < -self.body_half_depth - 1.0), VISCERA)
        # prevertebral vessels (aorta / IVC) above the L4-L5 disc, slightly left of midline
        k4 = min(1, len(self.disc_centre) - 1)
        l4_top = self.disc_centre[k4] - self.disc_half[k4]
        vessel = (D > -self.body_half_depth - 22.0) & (D < -self.body_half_depth - 4.0) & (s[None] < l4_top) & (zmm[:, None, None] > -20.0) & (zmm[:, None, None] < 4.0)
        put(inside & vessel, VESSEL)
        # posterior soft tissues
        put(inside & (D > 0) & (U < post_skin - 12.0)[None], MUSCLE)
        put(inside & (D > 0) & (U >= post_skin - 12.0)[None], FAT)
        # posterior elements: spinous processes / laminae, pedicles lateral
        canal0 = self.body_half_depth + 1.5
        canal1 = canal0 + self.canal_depth
        unit_phase = self._vertebral_phase(r, j)  # 0 at disc centre, 0.5 mid-body
        spinous = (D > canal1) & (D < canal1 + 30.0) & ((unit_phase > -0.2) & (unit_phase < 0.45))[None] & in_spine_s[None] & (zabs < 6.0)
        put(spinous, POST_BONE)
        lamina = (D > canal1) & (D < canal1 + 6.0) & in_spine_s[None] & (zabs < 22.0)
        put(lamina & ~((np.abs(unit_phase) < 0.12)[None]), POST_BONE)
        put(lamina & (np.abs(unit_phase) < 0.12)[None], LIGAMENT)
        # canal (CSF) centrally, pedicles / foramina laterally
        canal_ap = (D >= canal0) & (D <= canal1) & (s[None] < self.sacrum_top + 35.0)
        central = zabs < self.canal_halfwidth
        put(canal_ap & central, CSF)
        lateral = canal_ap & ~central & (zabs < self.canal_halfwidth + 9.0)
        near_disc = (ar < lim + 4.0)[None]
        put(lateral & near_disc, FAT)
        put(lateral & ~near_disc, POST_BONE)
        # ligaments lining the canal
        put((np.abs(D - canal0) < 0.8) & in_spine_s[None] & central, LIGAMENT)
        # vertebral bodies and discs
        is_disc2d = (ar <= lim) & in_spine_s
        body_core = (np.abs(D) <= hd_body) & (~is_disc2d & in_spine_s)[None]
        put(body_core, MARROW)
        rim = body_core & ((np.abs(D) > hd_body - 1.3) | ((ar <= lim + 1.3) & in_spine_s)[None])
        put(rim, CORTEX)
        disc = (np.abs(D) <= hd_disc) & is_disc2d[None]
        put(disc, ANNULUS)
        # nucleus: ellipse, slightly posterior
        nuc = (((D - 2.0) / (0.6 * np.maximum(hd_disc, 1e-3))) ** 2 + (r / (0.55 * self.disc_half[j]))[None] ** 2 < 1.0) & disc
        degen = np.isin(j, sorted(self.degenerate))[None]
        put(nuc & ~degen, NUCLEUS)
        put(nuc & degen, NUCLEUS_DEGEN)
        # sacrum: tapering wedge below the L5-S1 disc
        sac_len = 90.0
        ss = np.where(in_spine_s, -1.0, r - lim)  # mm below the S1 endplate
        taper = np.clip(1.0 - 0.55 * ss / sac_len, 0.2, 1.0)
        sac = (ss > 0) & (ss < sac_len)
        sacrum = (np.abs(D) <= hd_body * taper[None]) & sac[None]
        put(sacrum, SACRUM)
        sac_rim = sacrum & ((np.abs(D) > hd_body * taper[None] - 1.3) | (ss < 1.3)[None])
        put(sac_rim, CORTEX)
        # labels, SPIDER style
        labels = np.zeros((nz, ny, nx), dtype=np.uint16)
        vert_no = np.where(r < 0, j + 1, j).astype(np.uint16)  # body above disc j is vertebra j+1
        bone = np.isin(tissue, (MARROW, CORTEX)) & body_core
        labels[bone] = np.broadcast_to(vert_no[None], labels.shape)[bone]
        labels[disc] = np.broadcast_to((201 + j).astype(np.uint16)[None], labels.shape)[disc]
        labels[(tissue == CSF)] = 100
        return tissue, labels

    def _vertebral_phase(self, r: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Position in a vertebral unit, in unit heights: 0 at the nearest disc's centre,
        positive above it, +-0.5 mid-body. Used only to lay out the posterior elements."""
        h = self.body_height[j] + 2 * self.disc_half[j]
        return (-r / h).astype(np.float32)

    def lesions(self, s, d, j, r, zmm, spec, rng) -> tuple[np.ndarray, np.ndarray]:
        """Per-voxel lesion level (ivd label, 0 = none) and Modic grade, both (z, y, x) uint8."""
        ny, nx = s.shape
        ids = np.zeros((len(zmm), ny, nx), dtype=np.uint8)
        grade = np.zeros_like(ids)
        lim = self._disc_limit(j, d)
        for ivd, (g, ep) in sorted(spec.items()):
            if not g:
                continue
            k = ivd - 1
            depth = rng.uniform(6.0, 10.0)
            phase = rng.uniform(0, 2 * np.pi)
            hw = rng.uniform(12.0, 18.0)
            dep = depth * (1.0 + 0.25 * np.sin(2 * np.pi * d / 14.0 + phase))
            ap = np.abs(d) < 0.8 * self.body_half_depth
            band = np.zeros((ny, nx), dtype=bool)
            for sign in {"upper": (-1,), "lower": (1,), "both": (-1, 1)}[ep]:
                rr = sign * r
                band |= (j == k) & (rr > lim + 1.3) & (rr < lim + 1.3 + dep) & ap
            m3 = band[None] & (np.abs(zmm) < hw)[:, None, None]
            ids[m3] = ivd
            grade[m3] = g
        return ids, grade

    def level_box(self, k: int, s, d, j, r, sx: float, sy: float) -> tuple[float, float, float, float]:
        """Box over disc k and the adjacent endplate regions on the mid-sagittal plane."""
        lim = self._disc_limit(j, d)
        below = self.body_height[k - 1] if k > 0 else 30.0
        margin = 0.3 * min(self.body_height[k], below)
        reg = (j == k) & (np.abs(r) <= lim + margin) & (np.abs(d) <= self.body_half_depth + 3.0)
        rows = np.flatnonzero(reg.any(axis=1))
        cols = np.flatnonzero(reg.any(axis=0))
        if rows.size == 0:
            raise ValueError(f"disc {LEVEL_NAMES[k]} falls outside the image; enlarge the field of view "
                             f"(rows x spacing) or lower n_levels")
        return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def _signals(tissue: np.ndarray, lesion: np.ndarray, grade: np.ndarray, rng: np.random.Generator, *, blur: bool):
    """Ideal T1/T2 images (0..~1000) from tissue classes, with texture and lesions."""
    from scipy import ndimage  # lazy: scipy is heavy; only this computation needs it

    nz, ny, nx = tissue.shape
    t1 = _SIGNAL[tissue, 0]
    t2 = _SIGNAL[tissue, 1]
    # smooth marrow / soft tissue heterogeneity (+-6 %)
    small = rng.standard_normal((max(2, ny // 16), max(2, nx // 16))).astype(np.float32)
    tex = _interp_matrix(ny, small.shape[0]) @ small @ _interp_matrix(nx, small.shape[1]).T
    tex = 1.0 + 0.06 * tex / max(float(np.abs(tex).max()), 1e-6)
    t1 *= tex[None]
    t2 *= tex[None] ** 0.7
    for g, (f1, f2) in _MODIC_FACTOR.items():
        m = lesion & (grade == g) & ((tissue == MARROW) | (tissue == SACRUM))
        t1[m] *= f1
        t2[m] *= f2
    if blur:
        t1 = ndimage.gaussian_filter(t1, sigma=(0, 0.6, 0.6))
        t2 = ndimage.gaussian_filter(t2, sigma=(0, 0.6, 0.6))
    return t1, t2


def _apply_scanner(t1: np.ndarray, t2: np.ndarray, sc: ScannerVariation, rng: np.random.Generator):
    nz, ny, nx = t1.shape
    out = []
    for img, gain, offset in ((t1, sc.gain_t1, sc.offset_t1), (t2, sc.gain_t2, sc.offset_t2)):
        c = rng.uniform(-1.0, 1.0, size=5)
        xs = np.linspace(-1, 1, nx, dtype=np.float32)
        ys = np.linspace(-1, 1, ny, dtype=np.float32)
        zs = np.linspace(-1, 1, nz, dtype=np.float32) if nz > 1 else np.zeros(1, np.float32)
        # receive coil behind the patient: brighter posteriorly
        fx = sc.bias * (0.5 * xs + 0.25 * c[0] * xs**2)
        fy = sc.bias * (0.3 * c[1] * ys + 0.3 * c[2] * ys**2)
        fz = sc.bias * 0.2 * c[3] * zs**2
        bias = np.exp(fz[:, None, None] + fy[None, :, None] + fx[None, None, :])
        img = img * (gain * bias).astype(np.float32)
        if sc.noise > 0:
            sigma = np.float32(1000.0 * sc.noise * gain)
            n1 = rng.standard_normal(img.shape, dtype=np.float32) * sigma
            n2 = rng.standard_normal(img.shape, dtype=np.float32) * sigma
            img = np.sqrt((img + n1) ** 2 + n2**2)
        out.append(np.maximum(img + np.float32(offset), 0.0).astype(np.float32))
    return out[0], out[1]


def _interp_matrix(n: int, m: int) -> np.ndarray:
    """(n, m) linear interpolation weights from m coarse samples to n fine ones."""
    pos = np.linspace(0.0, m - 1.0, n)
    lo = np.clip(np.floor(pos).astype(int), 0, m - 2)
    w = (pos - lo).astype(np.float32)
    mat = np.zeros((n, m), dtype=np.float32)
    mat[np.arange(n), lo] = 1.0 - w
    mat[np.arange(n), lo + 1] += w
    return mat


def _zrange(sel: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(sel)
    if idx.size == 0:
        return (0, -1)
    return (int(idx[0]), int(idx[-1]))


def _uids(seed: int) -> dict[str, str]:
    """Deterministic DICOM UIDs for a phantom (same seed -> same UIDs)."""
    base = f"modic_core.datasets.synthetic/seed={seed}"
    return {k: deterministic_uid(base, k) for k in ("study", "frame_of_reference", "t1", "t2")}


def _centred_origin(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> tuple[float, float, float]:
    """LPS origin that puts the volume centre at the patient-space origin."""
    nz, ny, nx = shape
    half = np.array([(nx - 1) * spacing[2], (ny - 1) * spacing[1], (nz - 1) * spacing[0]]) / 2.0
    o = -(PIR_DIRECTION @ half)
    return tuple(float(round(x, 4)) + 0.0 for x in o)  # type: ignore[return-value]
