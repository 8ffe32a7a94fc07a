"""Nothing about a patient reaches logs, printed output or reports, and temp files are removed."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pydicom
import pytest

from modic_core.analysis.analyze import models_available
from modic_core.errors import InputError
from modic_core.datasets.synthetic import make_phantom

SECRET_NAME = "Zyxwvutson^Quibblewright"
SECRET_ID = "MRN-99887766"
SECRET_BIRTH = "19230517"


def _identified_pair(folder: Path) -> tuple[Path, Path]:
    ph = make_phantom(seed=3, shape=(7, 160, 160), spacing=(4.0, 1.4, 1.4))
    paths = ph.write(folder, fmt="dicom")
    for series in paths.values():
        for f in Path(series).glob("*"):
            ds = pydicom.dcmread(f)
            ds.PatientName = SECRET_NAME
            ds.PatientID = SECRET_ID
            ds.PatientBirthDate = SECRET_BIRTH
            ds.save_as(f)
    return Path(paths["t1"]), Path(paths["t2"])


def _assert_clean(text: str) -> None:
    for s in ("Zyxwvutson", "Quibblewright", SECRET_ID, SECRET_BIRTH):
        assert s not in text, f"patient identifier {s!r} leaked"


def test_loading_logs_and_metadata_carry_no_identifiers(tmp_path, caplog):
    from modic_core import load_study

    t1, t2 = _identified_pair(tmp_path)
    caplog.set_level(logging.DEBUG)
    study = load_study(t1, t2)
    _assert_clean(caplog.text)
    _assert_clean(json.dumps(study.t1.meta.to_dict()) + json.dumps(study.t2.meta.to_dict()) + json.dumps(study.sources))
    assert study.t1.meta.patient_hash and study.t1.meta.patient_hash == study.t2.meta.patient_hash


@pytest.mark.skipif(not models_available().get("zscore"), reason="shipped weights missing")
def test_cli_output_and_json_report_carry_no_identifiers(tmp_path):
    t1, t2 = _identified_pair(tmp_path / "in")
    out = tmp_path / "report.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "modic_core.analysis", str(t1), str(t2), "--json", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _assert_clean(proc.stdout + proc.stderr + out.read_text())
    assert "L5-S1" in proc.stdout


def test_uploads_leave_no_temp_files(tmp_path, monkeypatch):
    from modic_core.io import load_series

    t1, _ = _identified_pair(tmp_path / "in")
    tmp_root = tmp_path / "tmp"
    tmp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_root))
    uploads = [(f.name, f.read_bytes()) for f in sorted(t1.iterdir())]
    vol = load_series(uploads)
    assert vol.shape[0] == 7
    assert list(tmp_root.iterdir()) == []
    with pytest.raises(InputError, match="No medical image was found"):
        load_series([("broken.dcm", b"\x00" * 300)])
    assert list(tmp_root.iterdir()) == []
