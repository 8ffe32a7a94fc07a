"""Shared data for the normalization tests: real spider2d slices and seeded numpy phantoms."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from modic_core.volume import Volume, VolumeMeta

FIXTURES = Path(__file__).parents[1] / "fixtures"
SPIDER_MINI = FIXTURES / "spider2d_mini"
DICOM_DIR = FIXTURES / "dicom_t1_sag"


def spider_slices() -> dict[str, Volume]:
    """{"85/T1": Volume, ...}: the 3 fixture studies' uint8 single-slice T1/T2 series."""
    import SimpleITK as sitk

    out = {}
    for study in sorted(p for p in SPIDER_MINI.iterdir() if p.is_dir()):
        for seq in ("T1", "T2"):
            img = sitk.ReadImage(str(study / f"{seq.lower()}.mha"))
            out[f"{study.name}/{seq}"] = Volume.from_sitk(img, VolumeMeta(sequence=seq, source="mha"))
    return out


def dicom_volume() -> Volume:
    """The 15-slice real T1 DICOM series (3D) committed under tests/fixtures (fails if it is missing)."""
    import SimpleITK as sitk

    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(DICOM_DIR))
    assert files, f"the committed DICOM fixture is missing: {DICOM_DIR}"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    return Volume.from_sitk(reader.Execute(), VolumeMeta(sequence="T1", source="dicom"))


def phantom(
    shape: tuple[int, int, int] = (1, 96, 128),
    *,
    seed: int = 0,
    bias: float = 0.0,
    noise: float = 8.0,
    eight_bit: bool = False,
    sequence: str = "T2",
) -> Volume:
    """Seeded sagittal-like phantom: air (~5) around an elliptical body with tissue (~300),
    a bright canal (~600), dark "discs" (~120), a smooth texture, optional multiplicative
    bias exp(bias * (row/H - 0.5)) and Gaussian noise. ``eight_bit`` min-max stretches to
    integers 0..255 like the spider2d exports."""
    rng = np.random.default_rng(seed)
    z, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    yy, xx = yy / h, xx / w
    body = ((yy - 0.5) / 0.46) ** 2 + ((xx - 0.5) / 0.36) ** 2 < 1
    tissue = 300 + 40 * np.sin(9 * xx) * np.cos(7 * yy)
    tissue = np.where(((yy - 0.5) / 0.35) ** 2 + ((xx - 0.55) / 0.05) ** 2 < 1, 600, tissue)
    tissue = np.where((np.mod(yy, 1 / 6) < 1 / 40) & (np.abs(xx - 0.4) < 0.08), 120, tissue)
    img = np.where(body, tissue * np.exp(bias * (yy - 0.5)), 5.0)
    vol = np.repeat(img[None], z, axis=0) * (1 + 0.05 * np.arange(z))[:, None, None]
    vol = np.abs(vol + rng.normal(0, noise, vol.shape))
    if eight_bit:
        vol = np.round(255 * (vol - vol.min()) / (vol.max() - vol.min()))
    return Volume(vol.astype(np.float32), (4.0, 1.0, 1.0), meta=VolumeMeta(sequence=sequence, source="synthetic"))


def phantom_body(shape: tuple[int, int, int]) -> np.ndarray:
    """The phantom's true body mask (same ellipse as :func:`phantom`)."""
    z, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    body = ((yy / h - 0.5) / 0.46) ** 2 + ((xx / w - 0.5) / 0.36) ** 2 < 1
    return np.repeat(body[None], z, axis=0)
