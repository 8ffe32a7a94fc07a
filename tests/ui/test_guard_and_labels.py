"""The error guard's log line, neutral series labels for uploads, and the server-folder allow-list."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modic_core import InputError
from modic_core.ui.guard import failure_location, guarded, safe_call
from modic_core.ui.uploads import auto_pair, list_upload_series, load_pair, resolve_server_folder, series_option_label

ROOT = Path(__file__).resolve().parents[2]
PHI = "DOE_JOHN_MRN4471"
SECRET_MESSAGE = "cannot read /data/DOE_JOHN_MRN4471/t1.mha"


def _fails_inside_the_product():
    from modic_core.normalization.methods import NORMALIZATIONS

    NORMALIZATIONS["zscore"].func(None, None, None)  # raises ValueError in modic_core.normalization.methods


def test_guard_logs_type_and_code_location_but_never_the_message(caplog):
    caplog.set_level(logging.ERROR, logger="modic_core.app")
    with guarded("testing", show=lambda m: None) as g:
        try:
            _fails_inside_the_product()
        except ValueError:
            raise KeyError(SECRET_MESSAGE) from None
    assert not g.ok and g.kind == "unexpected"
    text = caplog.text
    assert "unexpected KeyError while testing at outside the product's code" in text  # a test file is not product code
    assert PHI not in text and "t1.mha" not in text and "/data" not in text

    caplog.clear()
    with guarded("normalizing", show=lambda m: None):
        _fails_inside_the_product()
    line = caplog.records[-1].getMessage()
    assert line.startswith("unexpected ValueError while normalizing at modic_core.normalization.methods:_need_mask:")
    assert "<- modic_core.normalization.methods:_zscore:" in line
    assert "foreground mask" not in line  # the message text is never logged


def test_failure_location_names_the_library_and_safe_call_logs_it(caplog):
    import numpy as np

    try:
        np.linalg.inv(np.zeros((2, 2)))
    except np.linalg.LinAlgError as exc:
        assert "in numpy" in failure_location(exc) and "outside the product's code" in failure_location(exc)
    caplog.set_level(logging.ERROR, logger="modic_core.app")
    assert safe_call(_fails_inside_the_product, "exporting", fallback=b"")() == b""
    assert "ValueError while exporting at modic_core.normalization.methods:_need_mask:" in caplog.text


@pytest.fixture
def phi_uploads():
    """Two real SPIDER images uploaded under file names that carry a patient's name."""
    fx = ROOT / "tests" / "fixtures" / "spider_pair"
    return [(f"{PHI}_t1.mha", (fx / "t1.mha").read_bytes()), (f"{PHI}_t2.mha", (fx / "t2.mha").read_bytes())]


def test_upload_file_names_never_reach_labels_or_the_study(phi_uploads):
    infos = list_upload_series(phi_uploads)
    labels = [series_option_label(i) for i in infos]
    assert labels == ["1: T1 series, 1 slice, sagittal (MHA file)", "2: T2 series, 1 slice, sagittal (MHA file)"]
    p = auto_pair(infos)
    study = load_pair(phi_uploads, infos[p.t1], infos[p.t2])
    shown = " ".join([*labels, str(study.sources), study.t1.meta.series_description, study.t2.meta.series_description])
    assert "DOE_JOHN" not in shown and "MRN4471" not in shown
    assert study.t1.meta.series_description == "T1 series, 1 slice" and study.sources["t2"] == "T2 series, 1 slice"
    with pytest.raises(InputError) as ex:
        auto_pair(infos[:1])
    assert "DOE_JOHN" not in str(ex.value) and "T1 series, 1 slice" in str(ex.value)


def test_dicom_series_keep_their_protocol_name():
    from modic_core.io import SeriesInfo

    info = SeriesInfo(0, "k", "T1 TSE SAG", 15, "sagittal", "T1", None, None, 256, 256, "dicom", 2)
    assert series_option_label(info) == "1: T1 TSE SAG (T1 series, 15 slices), series #2, sagittal (DICOM)"
    assert series_option_label(info, "patient B, study 2").startswith("1: [patient B, study 2] T1 TSE SAG")


def test_server_folder_allow_list(tmp_path):
    allowed = tmp_path / "cohorts"
    (allowed / "mine").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (allowed / "escape").symlink_to(tmp_path / "other")
    assert resolve_server_folder(str(allowed / "mine"), [allowed]) == (allowed / "mine").resolve()
    with pytest.raises(InputError, match="switched off"):
        resolve_server_folder(str(allowed / "mine"), [])
    for outside in ("/", "/etc", str(allowed / ".." / "other"), str(allowed / "escape")):
        with pytest.raises(InputError, match="outside the folders this server may read"):
            resolve_server_folder(outside, [allowed])
    with pytest.raises(InputError, match="not found"):
        resolve_server_folder(str(allowed / "nowhere"), [allowed])
