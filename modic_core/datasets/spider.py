"""Adapter for the full SPIDER release (van der Graaf et al., Sci Data 11:264, 2024; Zenodo
10.5281/zenodo.10159290, CC BY 4.0) to the project's cohort format.

Release layout read here::

    images/<id>_t1.mha, images/<id>_t2.mha   (images/<id>_t2_SPACE.mha is ignored)
    masks/<id>_t1.mha                        (1..25 vertebrae counted upward from the lowest
                                              lumbar vertebra, 100 spinal canal, 200 + n disc n,
                                              n = 1 the lowest disc, L5-S1)
    overview.csv                             (one row per series: new_file_name, subset,
                                              Manufacturer, field strength, ...)
    radiological_gradings.csv                (Patient, IVD label, Modic, UP endplate,
                                              LOW endplate, Spondylolisthesis, Disc herniation,
                                              Disc narrowing, Disc bulging, Pfirrman grade)

Orientation: the 2D TSE series of the release are stored with an identity-like direction
("LPS"), so SimpleITK returns their arrays as (S-I, A-P, L-R): the sagittal slice axis is the
LAST numpy axis and rows run inferior -> superior. Every image and mask is therefore
reoriented with ``SimpleITK.DICOMOrient(image, "PIR")`` to the project's sagittal layout:
array (z, y, x) = (slice left -> right, row superior -> inferior, column anterior ->
posterior), the same as spider2d. Boxes and slice ranges refer to that reoriented T1 grid.

Boxes: x0, y0, x1, y1 in pixel-edge coordinates (pixel i spans [i, i+1)) over all slices where
the disc is labelled, widened to cover both adjacent endplates: upward and downward by
``endplate_fraction`` of the height of the vertebra above / below (found geometrically in the
disc's columns, so the vertebra numbering does not matter), or by ``fallback_mm`` where there
is no labelled vertebra (the sacrum below L5-S1 when it is unlabelled); sideways by
``x_margin_mm`` beyond the disc (vertebra masks include posterior elements, so their width is
not used). z0, z1 is the inclusive slice range of the disc.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from modic_core.anatomy import level_name
from modic_core.datasets.records import CohortStudy, LevelLabel
from modic_core.errors import InputError
from modic_core.volume import Volume, VolumeMeta
from modic_core.pairing.study import make_study

__all__ = [
    "SPIDER_ORIENTATION",
    "SpiderStudy",
    "read_spider_image",
    "spider_volume",
    "disc_boxes",
    "read_gradings",
    "iter_spider_release",
    "convert_spider_release",
]

SPIDER_ORIENTATION = "PIR"  # x -> posterior, y -> inferior, z -> right (ITK DICOMOrient code)
CANAL_LABEL = 100
DISC_OFFSET = 200

GRADING_COLUMNS = {
    "Modic": "modic",
    "UP endplate": "up_endplate",
    "LOW endplate": "low_endplate",
    "Spondylolisthesis": "spondylolisthesis",
    "Disc herniation": "disc_herniation",
    "Disc narrowing": "disc_narrowing",
    "Disc bulging": "disc_bulging",
    "Pfirrman grade": "pfirrmann",
}
LEVEL_COLUMNS = [
    "study_id", "level", "ivd_label", "modic", "up_endplate", "low_endplate", "pfirrmann", "disc_narrowing",
    "spondylolisthesis", "disc_herniation", "disc_bulging", "x0", "y0", "x1", "y1", "z0", "z1",
]


def read_spider_image(path: str | Path):
    """Read a SPIDER .mha as a SimpleITK image reoriented to the sagittal layout ("PIR")."""
    import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

    path = Path(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"The SPIDER file '{path.name}' could not be read; it may be damaged.") from exc
    if image.GetDimension() != 3:
        raise InputError(f"The SPIDER file '{path.name}' is not a 3D volume.")
    return sitk.DICOMOrient(image, SPIDER_ORIENTATION)


def spider_volume(path: str | Path, *, sequence: str = "unknown", manufacturer: str = "",
                  field_strength_t: float | None = None) -> Volume:
    """A SPIDER image as a :class:`Volume` in the sagittal layout (z, y, x), spacing mm."""
    meta = VolumeMeta(series_description=Path(path).name, sequence=sequence, source="mha",
                      manufacturer=manufacturer, field_strength_t=field_strength_t)
    return Volume.from_sitk(read_spider_image(path), meta)


def disc_boxes(
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    endplate_fraction: float = 0.3,
    fallback_mm: float = 8.0,
    x_margin_mm: float = 2.0,
) -> dict[int, tuple[tuple[float, float, float, float], tuple[int, int]]]:
    """{disc number n (label 200 + n): (box x0, y0, x1, y1, (z0, z1))} from a reoriented mask.

    ``mask``: integer labels shaped (z, y, x) in the sagittal layout; ``spacing``: (z, y, x) mm.
    """
    mask = np.asarray(mask)
    nz, ny, nx = mask.shape
    _, sy, sx = spacing
    present = [int(v) for v in np.unique(mask) if v]
    discs = [v for v in present if DISC_OFFSET < v < DISC_OFFSET + 100]
    vertebrae = [v for v in present if v < CANAL_LABEL]
    out = {}
    for lab in discs:
        m = mask == lab
        zs = np.flatnonzero(m.any(axis=(1, 2)))
        ys = np.flatnonzero(m.any(axis=(0, 2)))
        xs = np.flatnonzero(m.any(axis=(0, 1)))
        y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
        centre = (y0 + y1) / 2.0
        band = mask[:, :, x0:x1]
        above_h = below_h = None
        best_above = best_below = np.inf
        for v in vertebrae:
            rows = np.flatnonzero((band == v).any(axis=(0, 2)))
            if rows.size == 0:
                continue
            vc = (rows[0] + rows[-1] + 1) / 2.0
            height = rows[-1] + 1 - rows[0]
            if vc < centre and centre - vc < best_above:
                best_above, above_h = centre - vc, height
            elif vc > centre and vc - centre < best_below:
                best_below, below_h = vc - centre, height
        up = endplate_fraction * above_h if above_h is not None else fallback_mm / sy
        down = endplate_fraction * below_h if below_h is not None else fallback_mm / sy
        mx = x_margin_mm / sx
        box = (
            float(max(0.0, np.floor(x0 - mx))),
            float(max(0.0, np.floor(y0 - up))),
            float(min(nx, np.ceil(x1 + mx))),
            float(min(ny, np.ceil(y1 + down))),
        )
        out[lab - DISC_OFFSET] = (box, (int(zs[0]), int(zs[-1])))
    return out


def read_gradings(root: str | Path) -> pd.DataFrame:
    """radiological_gradings.csv with columns renamed to the cohort names (patient, ivd_label, ...)."""
    path = Path(root) / "radiological_gradings.csv"
    if not path.is_file():
        raise InputError(f"The SPIDER folder has no radiological_gradings.csv (looked in '{Path(root).name}').")
    g = pd.read_csv(path)
    g.columns = [c.strip() for c in g.columns]
    missing = [c for c in ("Patient", "IVD label", "Modic") if c not in g.columns]
    if missing:
        raise InputError(f"radiological_gradings.csv lacks the column(s) {', '.join(missing)}.")
    g = g.rename(columns={"Patient": "patient", "IVD label": "ivd_label", **GRADING_COLUMNS})
    g["patient"] = g["patient"].astype(str).str.strip()
    return g


def _read_overview(root: Path) -> dict[str, dict]:
    """{series name (e.g. '12_t1'): {'subset', 'manufacturer', 'field_strength_t'}}."""
    path = root / "overview.csv"
    if not path.is_file():
        return {}
    o = pd.read_csv(path)
    cols = {c.lower().strip(): c for c in o.columns}
    name_col = cols.get("new_file_name")
    if name_col is None:
        return {}
    man_col = next((c for k, c in cols.items() if "manufacturer" in k), None)
    fs_col = next((c for k, c in cols.items() if "field" in k and "strength" in k), None) or next(
        (c for k, c in cols.items() if "tesla" in k), None)
    sub_col = cols.get("subset")
    out = {}
    for _, row in o.iterrows():
        fs = pd.to_numeric(row[fs_col], errors="coerce") if fs_col else np.nan
        out[str(row[name_col]).strip()] = {
            "subset": str(row[sub_col]).strip() if sub_col else "",
            "manufacturer": str(row[man_col]).strip() if man_col and not pd.isna(row[man_col]) else "",
            "field_strength_t": None if pd.isna(fs) else float(fs),
        }
    return out


@dataclass
class SpiderStudy(CohortStudy):
    """A cohort study read straight from a SPIDER release.

    When ``canonical`` is False the paths point at the release's own files (stored in SPIDER's
    orientation) and :meth:`load` reorients them; boxes refer to the reoriented T1 grid.
    """

    mask_path: Path | None = None
    subset: str = ""
    canonical: bool = False

    def load(self):
        """The paired :class:`~modic_core.volume.Study` in the sagittal layout (T2 on T1's grid)."""
        if self.canonical:
            return super().load()
        t1 = spider_volume(self.t1_path, sequence="T1", manufacturer=self.manufacturer, field_strength_t=self.field_strength_t)
        t2 = spider_volume(self.t2_path, sequence="T2", manufacturer=self.manufacturer, field_strength_t=self.field_strength_t)
        return make_study(t1, t2, sources={"t1": self.t1_path.name, "t2": self.t2_path.name}, study_id=self.study_id)


def _series_by_patient(images: Path) -> dict[str, dict[str, Path]]:
    out: dict[str, dict[str, Path]] = {}
    for p in sorted(images.glob("*.mha")):
        pid, _, seq = p.stem.partition("_")
        if seq in ("t1", "t2"):  # t2_SPACE and anything else are ignored
            out.setdefault(pid, {})[seq] = p
    return out


def _sort_key(pid: str):
    return (0, int(pid), "") if pid.isdigit() else (1, 0, pid)


def iter_spider_release(
    root: str | Path,
    *,
    out_folder: str | Path | None = None,
    endplate_fraction: float = 0.3,
) -> Iterator[SpiderStudy]:
    """Yield each SPIDER patient with a T1 and a T2 series as a :class:`SpiderStudy`.

    Levels are the graded discs (top to bottom) with Modic grade, endplate flags, Pfirrmann
    grade and, where the T1 mask labels the disc, a box and slice range on the reoriented T1
    grid. With ``out_folder`` the reoriented images (and T1 masks) are written there as
    ``images/<id>_t1.mha``, ``images/<id>_t2.mha``, ``masks/<id>_t1.mha`` and the studies
    point at those copies (``canonical`` True).
    """
    import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

    root = Path(root)
    images = root / "images"
    if not images.is_dir():
        raise InputError(f"'{root.name}' does not look like a SPIDER release: it has no images/ folder.")
    grades = read_gradings(root)
    by_patient = {pid: df for pid, df in grades.groupby("patient")}
    overview = _read_overview(root)
    series = _series_by_patient(images)
    if out_folder is not None:
        out_folder = Path(out_folder)
        (out_folder / "images").mkdir(parents=True, exist_ok=True)
        (out_folder / "masks").mkdir(parents=True, exist_ok=True)

    for pid in sorted(series, key=_sort_key):
        files = series[pid]
        if "t1" not in files or "t2" not in files:
            continue
        mask_path = root / "masks" / f"{pid}_t1.mha"
        boxes: dict = {}
        mask_img = None
        if mask_path.is_file():
            mask_img = read_spider_image(mask_path)
            spacing = mask_img.GetSpacing()
            boxes = disc_boxes(sitk.GetArrayFromImage(mask_img), (spacing[2], spacing[1], spacing[0]),
                               endplate_fraction=endplate_fraction)
        levels = []
        g = by_patient.get(pid)
        if g is not None:
            for row in g.itertuples(index=False):
                ivd = int(row.ivd_label)
                extra = {c: _int_or_none(getattr(row, c, None)) for c in GRADING_COLUMNS.values() if c != "modic"}
                box, zr = boxes.get(ivd, (None, None))
                levels.append(LevelLabel(level_name(ivd), ivd, _int_or_none(row.modic) if _int_or_none(row.modic) is not None else -1,
                                         box, zr, extra))
        levels.sort(key=lambda lv: -lv.ivd_label)
        info = overview.get(f"{pid}_t1", {})
        t1_path, t2_path, canonical, out_mask = files["t1"], files["t2"], False, mask_path if mask_img is not None else None
        if out_folder is not None:
            t1_path = out_folder / "images" / f"{pid}_t1.mha"
            t2_path = out_folder / "images" / f"{pid}_t2.mha"
            sitk.WriteImage(read_spider_image(files["t1"]), str(t1_path), useCompression=True)
            sitk.WriteImage(read_spider_image(files["t2"]), str(t2_path), useCompression=True)
            if mask_img is not None:
                out_mask = out_folder / "masks" / f"{pid}_t1.mha"
                sitk.WriteImage(mask_img, str(out_mask), useCompression=True)
            canonical = True
        yield SpiderStudy(
            study_id=pid, t1_path=t1_path, t2_path=t2_path,
            manufacturer=info.get("manufacturer", ""), field_strength_t=info.get("field_strength_t"),
            levels=levels, mask_path=out_mask, subset=info.get("subset", ""), canonical=canonical,
        )


def convert_spider_release(root: str | Path, out_folder: str | Path, *, endplate_fraction: float = 0.3) -> Path:
    """Write a SPIDER release as a cohort folder (reoriented images, studies.csv, levels.csv).

    Returns ``out_folder``; read it back with :func:`modic_core.datasets.cohort.load_cohort`.
    """
    import SimpleITK as sitk  # lazy: SimpleITK is heavy; only image files and resampling need it

    out_folder = Path(out_folder)
    study_rows, level_rows = [], []
    for st in iter_spider_release(root, out_folder=out_folder, endplate_fraction=endplate_fraction):
        r1 = sitk.ImageFileReader()
        sizes = {}
        for key, p in (("t1", st.t1_path), ("t2", st.t2_path)):
            r1.SetFileName(str(p))
            r1.ReadImageInformation()
            sizes[key] = (r1.GetSize(), r1.GetSpacing())
        (w1, h1, d1), (sx1, _, sz1) = sizes["t1"]
        (w2, h2, d2), (sx2, _, _) = sizes["t2"]
        study_rows.append({
            "study_id": st.study_id,
            "t1": st.t1_path.relative_to(out_folder).as_posix(),
            "t2": st.t2_path.relative_to(out_folder).as_posix(),
            "subset": st.subset, "manufacturer": st.manufacturer, "field_strength_t": st.field_strength_t,
            "t1_spacing_mm": sx1, "t2_spacing_mm": sx2,
            "t1_width": w1, "t1_height": h1, "t2_width": w2, "t2_height": h2,
            "t1_slices": d1, "t2_slices": d2, "t1_slice_mm": sz1,
            "mask": st.mask_path.relative_to(out_folder).as_posix() if st.mask_path else "",
        })
        for lv in st.levels:
            row = {"study_id": st.study_id, "level": lv.level, "ivd_label": lv.ivd_label, "modic": lv.modic, **lv.extra}
            if lv.box is not None:
                row.update(zip(("x0", "y0", "x1", "y1"), lv.box))
                row.update(z0=lv.z_range[0], z1=lv.z_range[1])
            level_rows.append(row)
    if not study_rows:
        raise InputError(f"No SPIDER patient in '{Path(root).name}' has both a T1 and a T2 series.")
    pd.DataFrame(study_rows).to_csv(out_folder / "studies.csv", index=False)
    levels = pd.DataFrame(level_rows).reindex(columns=LEVEL_COLUMNS)
    for c in ("x0", "y0", "x1", "y1", "z0", "z1"):
        levels[c] = levels[c].astype("Int64")
    levels.to_csv(out_folder / "levels.csv", index=False)
    return out_folder


def _int_or_none(value) -> int | None:
    if value is None:
        return None
    v = pd.to_numeric(value, errors="coerce")
    return None if pd.isna(v) else int(v)
