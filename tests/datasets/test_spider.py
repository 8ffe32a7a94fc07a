"""SPIDER release adapter, tested on a miniature release generated from phantoms."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modic_core import InputError
from modic_core.anatomy import LEVEL_NAMES
from modic_core.datasets.cohort import load_cohort
from modic_core.datasets.spider import convert_spider_release, iter_spider_release, read_spider_image
from modic_core.datasets.synthetic import make_phantom

SHAPE, SPACING = (9, 96, 96), (4.0, 2.7, 2.7)
PATIENTS = {
    "1": dict(seed=11, modic={"L4-L5": (2, "both"), "L5-S1": (1, "upper")}),
    "2": dict(seed=12, modic={"L3-L4": (3, "lower")}),
}


def _spider_storage(image):
    """As the SPIDER TSE exports store it: identity-like direction, sagittal axis last in numpy."""
    import SimpleITK as sitk

    return sitk.DICOMOrient(image, "LPS")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A miniature SPIDER release: 2 complete patients, one with an extra t2_SPACE, one T1-only."""
    import SimpleITK as sitk

    root = tmp_path_factory.mktemp("spider")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    phantoms, overview, grades = {}, [], []
    for pid, kw in PATIENTS.items():
        ph = make_phantom(shape=SHAPE, spacing=SPACING, **kw)
        phantoms[pid] = ph
        for seq, vol in (("t1", ph.t1), ("t2", ph.t2)):
            sitk.WriteImage(_spider_storage(vol.to_sitk()), str(root / "images" / f"{pid}_{seq}.mha"))
            overview.append({"new_file_name": f"{pid}_{seq}", "subset": "training",
                             "Manufacturer": "SIEMENS " if pid == "1" else "Philips Healthcare",
                             "MagneticFieldStrength": 1.5 if pid == "1" else 3.0})
        mask = sitk.GetImageFromArray(ph.labels.astype(np.uint16))
        mask.CopyInformation(ph.t1.to_sitk())
        sitk.WriteImage(_spider_storage(mask), str(root / "masks" / f"{pid}_t1.mha"))
        for lv in ph.levels:
            grades.append({"Patient": int(pid), "IVD label": lv.ivd_label, "Modic": lv.modic,
                           "UP endplate": lv.up_endplate, "LOW endplate": lv.low_endplate,
                           "Spondylolisthesis": 0, "Disc herniation": 0, "Disc narrowing": int(lv.modic > 0),
                           "Disc bulging": 0, "Pfirrman grade": 4 if lv.modic else 2})
    sitk.WriteImage(_spider_storage(phantoms["2"].t2.to_sitk()), str(root / "images" / "2_t2_SPACE.mha"))
    sitk.WriteImage(_spider_storage(phantoms["2"].t1.to_sitk()), str(root / "images" / "3_t1.mha"))
    pd.DataFrame(overview).to_csv(root / "overview.csv", index=False)
    pd.DataFrame(grades).to_csv(root / "radiological_gradings.csv", index=False)
    return root, phantoms


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_release_files_keep_the_sagittal_axis_last(release):
    """What SimpleITK returns for the release layout, and that reading reorients it."""
    import SimpleITK as sitk

    root, phantoms = release
    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "images" / "1_t1.mha")))
    assert raw.shape == (SHAPE[1], SHAPE[2], SHAPE[0])  # (S-I, A-P, L-R): slices last
    img = read_spider_image(root / "images" / "1_t1.mha")
    assert np.array_equal(sitk.GetArrayFromImage(img), phantoms["1"].t1.array)
    assert np.allclose(np.reshape(img.GetDirection(), (3, 3)), phantoms["1"].t1.direction)


def test_iter_release_levels_boxes_and_grades(release):
    root, phantoms = release
    studies = list(iter_spider_release(root))
    assert [s.study_id for s in studies] == ["1", "2"]  # patient 3 lacks a T2; t2_SPACE ignored
    assert studies[0].manufacturer == "SIEMENS" and studies[0].field_strength_t == 1.5
    assert studies[1].manufacturer == "Philips Healthcare" and studies[1].field_strength_t == 3.0
    for st in studies:
        ph = phantoms[st.study_id]
        assert st.t2_path.name == f"{st.study_id}_t2.mha" and not st.canonical
        assert [lv.level for lv in st.levels] == LEVEL_NAMES[:6][::-1]
        assert st.has_boxes
        centres = [(lv.box[1] + lv.box[3]) / 2 for lv in st.levels]
        assert centres == sorted(centres)
        for lv, truth in zip(st.levels, ph.levels):
            assert (lv.ivd_label, lv.modic) == (truth.ivd_label, truth.modic)
            assert lv.extra["up_endplate"] == truth.up_endplate and lv.extra["low_endplate"] == truth.low_endplate
            assert lv.extra["pfirrmann"] == (4 if truth.modic else 2)
            assert lv.z_range == truth.z_range
            zz, yy, xx = np.nonzero(ph.labels == 200 + lv.ivd_label)
            x0, y0, x1, y1 = lv.box
            assert x0 <= xx.min() and xx.max() < x1 and y0 < yy.min() and yy.max() < y1 - 1  # disc + endplates
            assert 0 <= x0 and 0 <= y0 and x1 <= SHAPE[2] and y1 <= SHAPE[1]
            assert _iou(lv.box, truth.box) > 0.5, (lv.level, lv.box, truth.box)


def test_spider_study_loads_reoriented(release):
    root, phantoms = release
    st = next(iter_spider_release(root))
    study = st.load()
    assert study.t1.orientation() == "sagittal" and study.t1.shape == SHAPE
    assert np.array_equal(study.t1.array, phantoms["1"].t1.array)
    assert np.allclose(study.t2.array, phantoms["1"].t2.array, atol=1e-3)


def test_convert_release_to_cohort(release, tmp_path):
    root, phantoms = release
    out = convert_spider_release(root, tmp_path / "cohort")
    levels = pd.read_csv(out / "levels.csv")
    assert {"x0", "y0", "x1", "y1", "z0", "z1", "modic", "up_endplate", "pfirrmann"} <= set(levels.columns)
    assert len(levels) == 12
    studies = list(load_cohort(out))
    assert [s.study_id for s in studies] == ["1", "2"]
    by_iter = {s.study_id: s for s in iter_spider_release(root)}
    for st in studies:
        ref = by_iter[st.study_id]
        assert [(l.level, l.modic, l.box, l.z_range) for l in st.levels] == [
            (l.level, l.modic, l.box, l.z_range) for l in ref.levels]
        study = st.load()  # the copies are already in the sagittal layout
        assert study.t1.orientation() == "sagittal"
        assert np.array_equal(study.t1.array, phantoms[st.study_id].t1.array)
    assert (out / "masks" / "1_t1.mha").is_file()


def test_missing_gradings_is_an_input_error(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(InputError, match="radiological_gradings.csv"):
        list(iter_spider_release(tmp_path))
    with pytest.raises(InputError, match="images/"):
        list(iter_spider_release(tmp_path / "nothing"))
