"""Issue #21: an upload of thousands of tiny one-slice series is refused fast, and not read again on reruns.

The generated zip holds 4,000 one-slice DICOM series of 4 x 4 pixels (seeded pixel values; each
file is a byte-level copy of one template with its own series and instance UIDs), about 2 MB.
"""
from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from modic_core import InputError
from modic_core.io import list_series, load_series
from modic_core.settings import limits

N_SERIES = 4000
_SERIES_UID = "1.2.826.0.1.3680043.8.498.1.1000000"  # fixed length: replaced byte for byte
_SOP_UID = "1.2.826.0.1.3680043.8.498.2.1000000"


def _template(seed: int) -> bytes:
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = _SOP_UID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = _SOP_UID
    ds.SeriesInstanceUID = _SERIES_UID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.3"
    ds.Modality = "MR"
    ds.SeriesDescription = "T1 TSE SAG"
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.ImagePositionPatient = [0, 0, 0]
    ds.PixelSpacing = [1, 1]
    ds.SliceThickness = 4
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.random.default_rng(seed).integers(0, 4096, (4, 4), dtype=np.uint16).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def flood_zip(n: int = N_SERIES, *, seed: int = 0) -> bytes:
    """A zip of ``n`` one-slice DICOM series (one file each)."""
    template = _template(seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            tag = f"{i:06d}".encode()
            data = template.replace(_SERIES_UID.encode(), _SERIES_UID[:-6].encode() + tag)
            data = data.replace(_SOP_UID.encode(), _SOP_UID[:-6].encode() + tag)
            zf.writestr(f"flood/s{i:05d}/IM0001.dcm", data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def flood() -> bytes:
    return flood_zip()


def test_default_cap_is_64_series(monkeypatch):
    monkeypatch.delenv("MODIC_MAX_SERIES", raising=False)
    assert limits().max_series == 64
    monkeypatch.setenv("MODIC_MAX_SERIES", "3")
    assert limits().max_series == 3


def test_a_zip_of_4000_one_slice_series_is_refused_within_5_s(flood):
    assert len(flood) < 4 << 20
    start = time.perf_counter()
    with pytest.raises(InputError, match="more than 64 series") as err:
        list_series([("flood.zip", flood)])
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"refusal took {elapsed:.1f} s"
    assert "Traceback" not in str(err.value) and "flood" not in str(err.value)
    with pytest.raises(InputError, match="more than 64 series"):
        load_series([("flood.zip", flood)], series=0)  # loading one of them is refused the same way


def test_the_zip_is_refused_from_its_members_first_bytes_before_anything_is_written(flood, monkeypatch):
    from modic_core.io import dicom, upload

    read, written = [], []
    monkeypatch.setattr(dicom, "read_header", lambda p: read.append(p))
    real_write = upload._write
    monkeypatch.setattr(upload, "_write", lambda path, data: written.append(path) or real_write(path, data))
    with pytest.raises(InputError, match="more than 64 series"):
        list_series([("flood.zip", flood)])
    assert read == [] and len(written) == 1  # only the uploaded zip itself was stored; no header parsed


def test_a_folder_of_many_series_stops_the_header_scan_early(tmp_path, monkeypatch):
    from modic_core.io import dicom

    monkeypatch.setenv("MODIC_MAX_SERIES", "4")
    with zipfile.ZipFile(io.BytesIO(flood_zip(12, seed=2))) as zf:
        zf.extractall(tmp_path)
    read = []
    real = dicom.read_header
    monkeypatch.setattr(dicom, "read_header", lambda p, **kw: read.append(p) or real(p, **kw))
    with pytest.raises(InputError, match="more than 4 series"):
        list_series(tmp_path)  # a server folder: no zip directory to count from, the header scan stops
    assert len(read) == 5


def test_image_files_count_as_series_before_any_header_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_MAX_SERIES", "2")
    files = [(f"s{i}.mha", b"not read") for i in range(3)]
    with pytest.raises(InputError, match="more than 2 series"):
        list_series(files)


def test_small_uploads_under_the_cap_are_listed(monkeypatch):
    monkeypatch.setenv("MODIC_MAX_SERIES", "5")
    infos = list_series([("few.zip", flood_zip(5, seed=1))])
    assert len(infos) == 5 and all(i.n_slices == 1 for i in infos)


def test_auto_pair_refuses_thousands_of_series_without_the_quadratic_search():
    from modic_core.io import SeriesInfo
    from modic_core.ui.uploads import auto_pair

    infos = [SeriesInfo(i, f"k{i}", "T1 SAG", 1, "sagittal", "T1", None, None, 4, 4, "dicom", i) for i in range(N_SERIES)]
    start = time.perf_counter()
    with pytest.raises(InputError, match="more than 64 series"):
        auto_pair(infos)
    assert time.perf_counter() - start < 0.1


@pytest.fixture
def fake_backend():
    from tests.app import fakes

    fakes.uninstall()
    fakes.install()
    yield
    fakes.uninstall()


def test_the_page_refuses_the_flood_within_5_s_and_does_not_read_it_again_on_a_click(flood, fake_backend, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from modic_core.ui import uploads
    from tests.app.helpers import APP

    calls = []
    real = uploads.list_series
    monkeypatch.setattr(uploads, "list_series", lambda source: calls.append(1) or real(source))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.radio(key="cv_source").set_value("Upload").run()
    start = time.perf_counter()
    at.file_uploader(key="cv_upload").set_value([("flood.zip", flood, "application/zip")]).run()
    first = time.perf_counter() - start
    assert not at.exception and len(at.error) == 1 and "more than 64 series" in at.error[0].value
    assert first < 5.0, f"first render took {first:.1f} s"
    start = time.perf_counter()
    at.slider(key="threshold").set_value(0.7).run()  # a widget click: a rerun of the page
    again = time.perf_counter() - start
    assert not at.exception and "more than 64 series" in at.error[0].value
    assert calls == [1] and again < 5.0, (calls, again)  # the refusal is cached for this upload: not read again
    print(f"flood upload: first render {first:.2f} s, rerun after a widget click {again:.2f} s")


def test_series_uid_is_found_in_explicit_and_implicit_vr_heads():
    from pydicom.uid import ImplicitVRLittleEndian

    from modic_core.io.series_count import series_uid_in

    explicit = _template(0)
    assert series_uid_in(explicit[:4096]) == _SERIES_UID.encode()
    ds = pydicom.dcmread(io.BytesIO(explicit))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=True, little_endian=True)
    assert series_uid_in(buf.getvalue()) == _SERIES_UID.encode()
    assert series_uid_in(np.random.default_rng(0).bytes(4096)) is None


def test_a_failed_pair_load_is_not_tried_again_on_a_widget_click(fake_backend, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from modic_core.datasets.synthetic import make_phantom
    from modic_core.ui import uploads
    from tests.app.helpers import APP

    files = []
    for seed, series in ((1, "t1"), (2, "t2")):  # two patients: loading the pair is refused
        out = make_phantom(seed=seed, shape=(3, 64, 64), spacing=(4.0, 4.0, 4.0)).write(tmp_path / str(seed), fmt="dicom")
        files += [(f"{series}_{f.name}", f.read_bytes(), "application/dicom") for f in sorted(out[series].glob("*.dcm"))]
    calls = []
    real = uploads.load_pair
    monkeypatch.setattr(uploads, "load_pair", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.radio(key="cv_source").set_value("Upload").run()
    at.file_uploader(key="cv_upload").set_value(files).run()
    assert not at.exception and "different patients" in at.error[0].value
    at.slider(key="threshold").set_value(0.7).run()
    assert not at.exception and "different patients" in at.error[0].value
    assert calls == [1]  # the refusal is remembered for this upload and pair
