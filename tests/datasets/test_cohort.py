"""Cohort tables (studies.csv, levels.csv): paths stay inside the folder, tables are checked strictly."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from modic_core.datasets.cohort import load_cohort
from modic_core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "demo" / "cohort"


@pytest.fixture
def cohort(tmp_path) -> Path:
    folder = tmp_path / "cohort"
    shutil.copytree(COHORT, folder)
    return folder


def _set_t1(folder: Path, value: str, row: int = 0) -> None:
    lines = (folder / "studies.csv").read_text().splitlines()
    cells = lines[row + 1].split(",")
    cells[1] = value
    lines[row + 1] = ",".join(cells)
    (folder / "studies.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("value", ["../../../../../../etc/passwd", "studies/../../outside.mha", "/etc/passwd", "/", "/dev/zero"])
def test_paths_outside_the_cohort_folder_are_refused_before_reading(cohort, value):
    (cohort.parent / "outside.mha").write_bytes(b"x")
    _set_t1(cohort, value)
    with pytest.raises(InputError, match="outside the cohort folder"):
        list(load_cohort(cohort))


def test_links_leading_out_and_device_files_are_refused(cohort, tmp_path):
    secret = tmp_path / "secret.mha"
    secret.write_bytes(b"x")
    (cohort / "link.mha").symlink_to(secret)
    _set_t1(cohort, "link.mha")
    with pytest.raises(InputError, match="outside the cohort folder"):
        list(load_cohort(cohort))
    (cohort / "zero").symlink_to("/dev/zero")  # resolves outside; a device inside the folder needs a FIFO
    os.mkfifo(cohort / "pipe.mha")
    _set_t1(cohort, "pipe.mha")
    with pytest.raises(InputError, match="not a regular file"):
        list(load_cohort(cohort))
    # a folder (DICOM series) with a link leading out
    (cohort / "dicom").mkdir()
    (cohort / "dicom" / "img.dcm").symlink_to(secret)
    _set_t1(cohort, "dicom")
    with pytest.raises(InputError, match="outside the cohort folder"):
        list(load_cohort(cohort))


def test_valid_paths_resolve_inside(cohort):
    studies = list(load_cohort(cohort))
    assert [s.study_id for s in studies] == ["104", "4", "121"]
    assert all(s.t1_path.is_relative_to(cohort.resolve()) and s.t1_path.is_file() for s in studies)


def test_ids_like_na_and_null_keep_their_labels(cohort):
    for name in ("studies.csv", "levels.csv"):
        text = (cohort / name).read_text()
        (cohort / name).write_text(text.replace("\n104,", "\nNA,").replace("\n4,", "\nnull,"))
    studies = {s.study_id: s for s in load_cohort(cohort)}
    assert set(studies) == {"NA", "null", "121"}
    assert len(studies["NA"].levels) == 7 and len(studies["null"].levels) == 6
    assert all(lv.modic in (0, 1, 2, 3) for lv in studies["NA"].levels)


def test_duplicate_study_ids_are_refused(cohort):
    text = (cohort / "studies.csv").read_text()
    (cohort / "studies.csv").write_text(text.replace("\n4,", "\n104,"))
    with pytest.raises(InputError, match="more than once"):
        list(load_cohort(cohort))


@pytest.mark.parametrize(
    "table, content, match",
    [
        ("levels.csv", "study_id,level,modic\n104,L4-L5,abc\n", r"levels.csv, line 2: the column 'modic' must hold 0, 1, 2, 3"),
        ("levels.csv", "study_id,level,modic\n104,L4-L5,7\n", "must hold 0, 1, 2, 3"),
        ("levels.csv", "study_id,level,x0,y0,x1,y1,modic\n104,L4-L5,1,2,nan,4,1\n", "'x1' must hold a number"),
        ("levels.csv", "study_id,level,grade\n104,L4-L5,1\n", "lacks the column 'modic'"),
        ("studies.csv", "", "empty"),
        ("studies.csv", "study_id,t1,t2\n", "lists no study"),
        ("studies.csv", "study_id,t1\n1,a.mha\n", "lacks the column 't2'"),
        ("studies.csv", b"\xff\xfe\x00\x81\x00PK\x03\x04\x00", "not a text CSV"),
        ("studies.csv", "study_id,t1,t2\n1,,b.mha\n", "line 2: the column 't1' is empty"),
    ],
)
def test_bad_tables_are_input_errors(cohort, table, content, match):
    path = cohort / table
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError, match=match):
        list(load_cohort(cohort))


def test_auxiliary_gradings_are_read_and_odd_cells_count_as_ungraded(cohort):
    import pandas as pd

    from modic_core.datasets.cohort import AUX_GRADINGS, aux_classes

    lv = pd.read_csv(cohort / "levels.csv", dtype=str, keep_default_na=False)
    lv["pfirrmann"] = ["5", "1", "", "7", "x"] + ["3"] * (len(lv) - 5)
    lv["disc_herniation"] = ["1"] + [""] * (len(lv) - 1)
    lv.to_csv(cohort / "levels.csv", index=False)
    studies = list(load_cohort(cohort))
    sid = lv["study_id"].iloc[0]
    by_level = {l.level: l.extra for st in studies if st.study_id == sid for l in st.levels}
    got = [by_level[name] for name in lv[lv["study_id"] == sid]["level"]]
    assert (got[0]["pfirrmann"], got[0]["disc_herniation"], got[1]["pfirrmann"]) == (5, 1, 1)  # values, as in a SPIDER release
    assert (aux_classes(got[0])["pfirrmann"], aux_classes(got[1])["pfirrmann"]) == (4, 0)  # grades 1-5 are classes 0-4
    assert aux_classes({"pfirrmann": None, "disc_bulging": 2, "up_endplate": "x", "spondylolisthesis": 1}) == {"spondylolisthesis": 1}
    assert all("disc_herniation" not in g for g in got[1:])
    assert got[0]["up_endplate"] == int(lv["up_endplate"].iloc[0])  # the demo cohort's own endplate column
    assert all("pfirrmann" not in g for g in got[2:5])  # empty, out of range, not a number: not graded
    assert set(AUX_GRADINGS) >= {"pfirrmann", "disc_herniation", "up_endplate", "low_endplate"}
