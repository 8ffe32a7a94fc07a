"""``python -m modic_core.analysis T1 T2 --csv --pdf --sr``: the dashboard's files from the command line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from modic_core.analysis.analyze import models_available
from modic_core.export.cli import main

ROOT = Path(__file__).resolve().parents[2]
PHANTOM = ROOT / "demo" / "phantom_dicom"
SPIDER = ROOT / "tests" / "fixtures" / "spider_pair"
needs_models = pytest.mark.skipif(not (models_available().get("detector") and models_available().get("zscore")),
                                  reason="model weights are not installed")


@needs_models
def test_cli_writes_csv_pdf_and_sr(tmp_path):
    out = {k: tmp_path / f"r.{k}" for k in ("csv", "pdf", "dcm")}
    proc = subprocess.run([sys.executable, "-m", "modic_core.analysis", str(PHANTOM / "t1"), str(PHANTOM / "t2"),
                           "--normalization", "zscore", "--csv", str(out["csv"]), "--pdf", str(out["pdf"]),
                           "--sr", str(out["dcm"])], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out["csv"])
    assert len(df) >= 5 and df["study"].astype(str).str.fullmatch(r"[0-9a-f]{8}").all()
    assert out["pdf"].read_bytes().startswith(b"%PDF")
    ds = pydicom.dcmread(out["dcm"])
    assert ds.Modality == "SR" and len(ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence) == 2
    assert "wrote" in proc.stdout and str(out["dcm"]) in proc.stdout


def test_cli_bad_input_exits_with_a_sentence(tmp_path, capsys):
    assert main([str(tmp_path / "missing"), str(tmp_path / "missing2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.strip().endswith(".")
    # an SR needs a DICOM T1: refused before any analysis runs
    assert main([str(SPIDER / "t1.mha"), str(SPIDER / "t2.mha"), "--sr", str(tmp_path / "x.dcm")]) == 2
    assert "--sr needs the T1 series as DICOM" in capsys.readouterr().err and not (tmp_path / "x.dcm").exists()
    assert main([str(SPIDER / "t1.mha"), str(SPIDER / "t2.mha"), "--pdf", str(tmp_path / "no" / "r.pdf")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([str(SPIDER / "t1.mha"), str(SPIDER / "t2.mha"), "--normalization", "bogus"]) == 2
    assert "Unknown normalization" in capsys.readouterr().err


@needs_models
def test_cli_shift_names_corrects_every_output(tmp_path, capsys):
    import json

    args = [str(SPIDER / "t1.mha"), str(SPIDER / "t2.mha"), "--normalization", "zscore", "--no-gradcam"]
    assert main(args + ["--csv", str(tmp_path / "a.csv")]) == 0
    before = pd.read_csv(tmp_path / "a.csv")
    capsys.readouterr()
    assert main(args + ["--shift-names", "1", "--csv", str(tmp_path / "b.csv"), "--json", str(tmp_path / "b.json")]) == 0
    assert "Level names corrected by the user: all names shifted up by one level." in capsys.readouterr().out
    after = pd.read_csv(tmp_path / "b.csv")
    assert list(after["detected_level"]) == list(before["level"]) and list(after["level"]) != list(before["level"])
    assert after["names_corrected_by_user"].all() and not before["names_corrected_by_user"].any()
    assert list(after["P(MC0)"]) == list(before["P(MC0)"])  # grades stay with their regions
    rec = json.loads((tmp_path / "b.json").read_text())
    assert rec["names_corrected_by_user"] and rec["naming_correction"] == "all names shifted up by one level"
    # below L5-S1 there is no level in the anatomy table: refused with a sentence
    assert before["level"].iloc[-1] == "L5-S1"
    assert main(args + ["--shift-names", "-1"]) == 2
    assert "cannot be shifted down by one level" in capsys.readouterr().err
