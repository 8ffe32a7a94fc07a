"""The bundled demo cases load from any working directory and carry usable labels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modic_core.datasets.cohort import load_cohort
from modic_core.datasets.demo import PHANTOM_PARAMS, demo_dir, demo_levels, get_demo_case, list_demo_cases, load_demo


def test_cases_listed_with_existing_files():
    cases = list_demo_cases()
    names = [c.name for c in cases]
    assert len(names) == len(set(names))
    spider = [c for c in cases if c.kind == "spider2d"]
    assert 2 <= len(spider) <= 3
    assert [c.name for c in cases if c.kind == "synthetic-dicom"] == ["phantom-dicom"]
    for c in cases:
        assert c.t1.exists() and c.t2.exists() and c.description
        assert c.t1.is_absolute()
    with pytest.raises(KeyError):
        get_demo_case("no-such-case")


def test_spider_cases_load_from_any_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for case in list_demo_cases():
        if case.kind != "spider2d":
            continue
        study = load_demo(case.name)
        assert study.t1.orientation() == "sagittal"
        assert study.t2.shape == study.t1.shape  # T2 resampled onto the T1 grid
        assert np.count_nonzero(study.t2.array) > 0.5 * study.t2.array.size
        levels = demo_levels(case.name)
        _, ny, nx = study.t1.shape
        for lv in levels:
            x0, y0, x1, y1 = lv.box
            assert 0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny


def test_demo_cohort_has_boxes_and_both_mc0_and_mc2():
    studies = list(load_cohort(demo_dir() / "cohort"))
    assert 2 <= len(studies) <= 3
    grades = set()
    for st in studies:
        assert st.has_boxes
        grades |= {lv.modic for lv in st.levels}
        assert st.t1_path.stat().st_size < 400_000 and st.t2_path.stat().st_size < 400_000
    assert {0, 2} <= grades


def test_phantom_dicom_matches_its_ground_truth():
    import SimpleITK as sitk

    from modic_core.datasets.synthetic import make_phantom

    case = get_demo_case("phantom-dicom")
    size = sum(p.stat().st_size for p in demo_dir().joinpath("phantom_dicom").rglob("*") if p.is_file())
    assert size < 3_000_000
    truth = make_phantom(**PHANTOM_PARAMS)
    for path, vol in ((case.t1, truth.t1), (case.t2, truth.t2)):
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path)))
        img = reader.Execute()
        assert img.GetSize() == tuple(reversed(PHANTOM_PARAMS["shape"]))
        assert np.allclose(img.GetOrigin(), vol.origin, atol=1e-4)
        assert np.allclose(np.reshape(img.GetDirection(), (3, 3)), vol.direction, atol=1e-4)
    rows = pd.read_csv(demo_dir() / "phantom_dicom" / "levels.csv")
    assert list(rows.level) == [lv.level for lv in truth.levels]
    assert list(rows.modic) == [lv.modic for lv in truth.levels]
    for row, lv in zip(rows.itertuples(), truth.levels):
        assert (row.x0, row.y0, row.x1, row.y1) == lv.box
    assert {lv.modic for lv in demo_levels("phantom-dicom")} == {0, 1, 2, 3}


def test_phantom_dicom_loads_as_study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = load_demo("phantom-dicom")
    assert study.t1.shape == PHANTOM_PARAMS["shape"]
    assert study.t1.orientation() == "sagittal"


def test_readme_credits_spider():
    text = (demo_dir() / "README.md").read_text()
    for needle in ("van der Graaf", "10.1038/s41597-024-03090-w", "10.5281/zenodo.10159290", "CC BY 4.0"):
        assert needle in text
