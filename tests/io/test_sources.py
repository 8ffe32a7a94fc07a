"""Sources: folders, zips, uploads, path lists, MHA/NIfTI, several series, temp-file hygiene."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from modic_core import Volume
from modic_core.io import SeriesInfo, describe_source, list_series, load_series

from .conftest import (
    DICOM_DIR,
    DICOM_FILES,
    SPIDER_DIR,
    FakeUploadedFile,
    assert_input_error,
    uploads_of,
    write_series,
    write_t2_series,
    zip_folder,
)


@pytest.fixture(scope="module")
def t1():
    return load_series(DICOM_DIR)


def same_volume(a: Volume, b: Volume) -> None:
    np.testing.assert_array_equal(a.array, b.array)
    assert a.spacing == pytest.approx(b.spacing)
    assert a.origin == pytest.approx(b.origin)
    assert np.allclose(a.direction, b.direction)
    assert a.meta == b.meta


def test_folder_zip_uploads_and_paths_give_the_same_volume(tmp_path, t1, private_tempdir):
    zipped = zip_folder(DICOM_DIR, tmp_path / "series.zip", prefix="export/DICOM/")
    sources = [
        str(DICOM_DIR),
        zipped,
        [str(p) for p in DICOM_FILES],
        uploads_of(DICOM_DIR),  # includes CREDIT.txt, which is skipped as not an image
        [FakeUploadedFile(f"some/dir/{p.name}", p.read_bytes()) for p in DICOM_FILES],
        [("series.zip", zipped.read_bytes())],
    ]
    for source in sources:
        same_volume(load_series(source), t1)
    assert list(private_tempdir.iterdir()) == []  # every temporary folder was removed


def test_single_dicom_file(t1):
    v = load_series(DICOM_FILES[3])
    assert v.shape == (1, 320, 320)
    k = int(np.argmin([np.abs(v.origin[0] - t1.index_to_physical([[z, 0, 0]])[0, 0]) for z in range(15)]))
    np.testing.assert_array_equal(v.array[0], t1.array[k])


def test_list_series_two_series_with_t1_t2_guesses(tmp_path):
    folder = tmp_path / "exam"
    shutil.copytree(DICOM_DIR, folder / "t1")
    write_t2_series(folder / "t2")
    infos = list_series(folder)
    assert len(infos) == 2
    assert all(isinstance(i, SeriesInfo) for i in infos)
    by_seq = {i.sequence: i for i in infos}
    assert set(by_seq) == {"T1", "T2"}
    assert by_seq["T2"].description == "T2 TSE SAG"
    assert by_seq["T2"].repetition_time_ms == 3000 and by_seq["T2"].echo_time_ms == 100
    assert by_seq["T1"].description == "t1_tse_sag_320"
    for info in infos:
        assert (info.n_slices, info.orientation, info.rows, info.cols, info.kind) == (15, "sagittal", 320, 320, "dicom")
        assert "sagittal" in info.label and str(info.n_slices) in info.label
    assert [i.index for i in infos] == [0, 1]
    # Keys, indexes and the infos themselves select the series; keys are stable across calls.
    assert [i.key for i in list_series(folder)] == [i.key for i in infos]
    for info in infos:
        for choice in (info.key, info.index, info):
            v = load_series(folder, series=choice)
            assert v.meta.sequence == info.sequence and v.meta.series_description == info.description
    # The same holds for an upload (new temp folder each call).
    up = uploads_of(folder)
    up_infos = list_series(up)
    assert [i.key for i in up_infos] == [i.key for i in infos]
    assert load_series(up, series=up_infos[1].key).meta.series_description == up_infos[1].description


def test_several_series_without_choice_asks_to_pick(tmp_path):
    folder = tmp_path / "exam"
    shutil.copytree(DICOM_DIR, folder / "t1")
    write_t2_series(folder / "t2")
    err = assert_input_error(lambda: load_series(folder), "2 series", "choose one")
    assert "T2 TSE SAG" in str(err)
    assert_input_error(lambda: load_series(folder, series="nope"), "not found")
    assert_input_error(lambda: load_series(folder, series=5), "no series number 6")


def test_image_files(tmp_path, private_tempdir):
    t1_mha = SPIDER_DIR / "t1.mha"
    ref = load_series(t1_mha)
    assert ref.shape == (1, 320, 320) and ref.orientation() == "sagittal"
    assert ref.meta.sequence == "T1" and ref.meta.source == "mha"
    image = sitk.ReadImage(str(t1_mha))
    nii = tmp_path / "case_t1.nii.gz"
    sitk.WriteImage(image, str(nii))
    mhd = tmp_path / "case.mhd"
    sitk.WriteImage(image, str(mhd))  # writes case.mhd + case.raw
    for source in (nii, [nii], mhd, [("case.mhd", mhd.read_bytes()), ("case.raw", (tmp_path / "case.raw").read_bytes())],
                   [("t1.mha", t1_mha.read_bytes())], FakeUploadedFile("t1.mha", t1_mha.read_bytes())):
        v = load_series(source)
        np.testing.assert_array_equal(v.array, ref.array)
        assert v.spacing == pytest.approx(ref.spacing) and v.origin == pytest.approx(ref.origin, abs=1e-4)
        assert np.allclose(v.direction, ref.direction)
    assert load_series(nii).meta.source == "nifti"
    assert list(private_tempdir.iterdir()) == []


def test_list_series_on_an_image_pair_folder():
    infos = list_series(SPIDER_DIR)
    assert [(i.description, i.sequence, i.orientation, i.n_slices) for i in infos] == [
        ("t1.mha", "T1", "sagittal", 1),
        ("t2.mha", "T2", "sagittal", 1),
    ]
    assert (infos[1].rows, infos[1].cols) == (384, 384)
    assert load_series(SPIDER_DIR, series=infos[1].key).shape == (1, 384, 384)


def test_volume_passes_through(t1):
    assert load_series(t1) is t1
    assert list_series(t1)[0].n_slices == 15


def test_describe_source_is_short_and_non_identifying(tmp_path):
    assert describe_source(DICOM_DIR) == "dicom_t1_sag"
    assert describe_source(str(SPIDER_DIR / "t1.mha")) == "t1.mha"
    assert describe_source(uploads_of(DICOM_DIR)) == "upload (16 files)"
    assert describe_source([FakeUploadedFile("x.dcm", b"")]) == "upload (1 file)"
    assert describe_source([str(p) for p in DICOM_FILES]) == "dicom_t1_sag (15 files)"
    assert describe_source(Volume(np.zeros((1, 2, 2)), (1, 1, 1))) == "image in memory"


def test_same_file_twice_counts_once(tmp_path, t1):
    folder = tmp_path / "dup"
    shutil.copytree(DICOM_DIR, folder / "a")
    shutil.copytree(DICOM_DIR, folder / "b")  # identical SOP instances in two folders
    assert list_series(folder)[0].n_slices == 15
    same_volume(load_series(folder), t1)


def test_hidden_files_and_dicomdir_are_skipped(tmp_path, t1):
    folder = write_series(tmp_path / "s", new_series=False)
    (folder / ".DS_Store").write_bytes(b"\x00\x01junk" * 100)
    (folder / "DICOMDIR").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 64)  # damaged, but never read
    (folder / "__MACOSX").mkdir()
    (folder / "__MACOSX" / "._IM0000.dcm").write_bytes(b"\x00" * 128 + b"DICM")
    uploads = uploads_of(folder) + [("__MACOSX/._x.dcm", b"\x00" * 128 + b"DICM")]
    for source in (folder, uploads):
        same_volume(load_series(source), t1)


def test_upload_names_are_stripped_of_directories(tmp_path, t1, private_tempdir):
    uploads = [(f"../../../../etc/{p.name}", p.read_bytes()) for p in DICOM_FILES]
    uploads += [("C:\\Users\\x\\..\\evil.txt", b"hello")]
    same_volume(load_series(uploads), t1)
    assert not (tmp_path / "etc").exists()
    assert list(private_tempdir.iterdir()) == []
