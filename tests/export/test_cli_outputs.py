"""The analysis command line's files (issue #21): no disc found, unwritable outputs, SR of a zipped or
enhanced multi-frame T1."""
from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pydicom
import pytest

from modic_core import InputError
from modic_core.analysis.report import TABLE_COLUMNS, StudyReport
from modic_core.export.cli import main, write_exports
from modic_core.io.outputs import check_output, write_output
from modic_core.pairing.alignment import Alignment
from tests.export.test_cli import PHANTOM, SPIDER, needs_models
from tests.export.test_documents import make_report


@pytest.fixture(scope="module")
def study():
    from modic_core.datasets.demo import load_demo

    return load_demo("phantom-dicom")


def reliable(report):
    report.alignment = Alignment(method="header", residual_mm=1.0, discs_matched=3, discs_t1=3, ok=True)
    return report


def fake_analysis(study):
    """What write_exports uses of a StudyAnalysis."""
    return SimpleNamespace(study=study, fingerprint="f" * 16, placed_study=lambda: study)


# --------------------------------------------------------------------------- no disc found


def test_an_empty_report_has_an_empty_table_with_its_columns():
    table = StudyReport(levels=[], normalization="zscore", threshold=0.5).table()  # was KeyError: ['uncertain']
    assert list(table.columns) == TABLE_COLUMNS and len(table) == 0


def test_every_requested_file_is_written_when_no_disc_was_found(study, tmp_path):
    rep = reliable(make_report(study, 0))
    out = {k: tmp_path / f"r.{k}" for k in ("csv", "pdf", "dcm")}
    lines = write_exports(fake_analysis(study), rep, t1_source=PHANTOM / "t1", t2_source=PHANTOM / "t2",
                          csv=str(out["csv"]), pdf=str(out["pdf"]), sr=str(out["dcm"]))
    assert len(lines) == 3 and all("no disc was found" in line for line in lines)
    df = pd.read_csv(out["csv"])
    assert len(df) == 0 and "level" in df.columns and "warnings" in df.columns
    assert out["pdf"].read_bytes().startswith(b"%PDF")
    assert pydicom.dcmread(out["dcm"]).Modality == "SR"


def noise_pair(folder: Path) -> tuple[Path, Path]:
    """Seeded noise (no spine) as a sagittal T1/T2 pair of 5 slices of 128 x 128 pixels."""
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    paths = []
    for name in ("t1", "t2"):
        img = sitk.GetImageFromArray(rng.normal(100, 10, (5, 128, 128)).astype(np.float32))
        img.SetSpacing((1.0, 1.0, 4.0))
        img.SetDirection((0, 0, 1, 1, 0, 0, 0, -1, 0))  # columns A-P, rows S-I, slices L-R: sagittal
        paths.append(folder / f"{name}.mha")
        sitk.WriteImage(img, str(paths[-1]))
    return paths[0], paths[1]


@needs_models
def test_cli_on_noise_writes_every_file_saying_no_disc_was_found(tmp_path, capsys):
    t1, t2 = noise_pair(tmp_path)
    out = {k: tmp_path / f"r.{k}" for k in ("json", "csv", "pdf")}
    rc = main([str(t1), str(t2), "--no-gradcam", "--json", str(out["json"]), "--csv", str(out["csv"]),
               "--pdf", str(out["pdf"])])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "No disc was found" in printed.out and all(p.is_file() and p.stat().st_size > 0 for p in out.values())
    assert printed.out.count("no disc was found") == 2  # the CSV and PDF lines


# --------------------------------------------------------------------------- output paths


@pytest.mark.parametrize("target, says", [
    ("{tmp}", "is a folder"),
    ("/dev/full", "not a regular file"),
    ("/proc/version", "cannot be written"),
    ("{tmp}/missing/r.pdf", "does not exist"),
])
def test_check_output_refuses_with_a_sentence(tmp_path, target, says):
    target = target.format(tmp=tmp_path)
    with pytest.raises(InputError, match=says) as err:
        check_output("--pdf", target)
    assert str(err.value).startswith("--pdf: ") and str(err.value).endswith(".")


def test_check_output_changes_nothing(tmp_path):
    existing = tmp_path / "old.csv"
    existing.write_text("keep me")
    assert check_output("--csv", existing) == existing and existing.read_text() == "keep me"
    check_output("--csv", tmp_path / "new.csv")
    assert not (tmp_path / "new.csv").exists()


def test_a_failed_write_is_a_sentence():
    with pytest.raises(InputError, match=r"--pdf: writing /dev/full failed \(No space left on device\)"):
        write_output("--pdf", "/dev/full", b"%PDF")


@pytest.mark.parametrize("option, target, t1", [
    ("--pdf", "/dev/full", SPIDER / "t1.mha"),
    ("--csv", "{tmp}", SPIDER / "t1.mha"),
    ("--sr", "/proc/version", PHANTOM / "t1"),
    ("--json", "/dev/full", SPIDER / "t1.mha"),
])
def test_cli_refuses_unwritable_outputs_before_the_analysis(tmp_path, capsys, monkeypatch, option, target, t1):
    import importlib

    analyze = importlib.import_module("modic_core.analysis.analyze")  # the module (the package exports a function of that name)

    def no_analysis(*a, **k):
        raise AssertionError("the analysis ran before the output paths were checked")

    monkeypatch.setattr(analyze, "get_analysis", no_analysis)
    t2 = SPIDER / "t2.mha" if t1.suffix == ".mha" else PHANTOM / "t2"
    assert main([str(t1), str(t2), option, target.format(tmp=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option}: ") and "Traceback" not in err


def test_a_file_that_cannot_be_written_costs_only_itself(study, tmp_path):
    from modic_core.export.cli import ExportError

    rep = reliable(make_report(study))
    with pytest.raises(ExportError) as err:
        write_exports(fake_analysis(study), rep, t1_source=PHANTOM / "t1", csv=str(tmp_path / "r.csv"), pdf="/dev/full",
                      sr=str(tmp_path / "r.dcm"))
    assert "--pdf: writing /dev/full failed" in str(err.value)
    assert [line.split(" (")[0] for line in err.value.done] == [f"wrote {tmp_path / 'r.csv'}", f"wrote {tmp_path / 'r.dcm'}"]


# --------------------------------------------------------------------------- SR of a zipped or multi-frame T1


def test_sr_of_a_zipped_dicom_t1(study, tmp_path):
    zpath = tmp_path / "t1.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted((PHANTOM / "t1").iterdir()):
            zf.write(p, f"study/t1/{p.name}")
        for p in sorted((PHANTOM / "t2").iterdir()):  # another series in the same zip: not the analysed T1
            zf.write(p, f"study/t2/{p.name}")
    out = tmp_path / "sr.dcm"
    lines = write_exports(fake_analysis(study), reliable(make_report(study)), t1_source=str(zpath), sr=str(out))
    assert lines == [f"wrote {out} (DICOM SR)"]  # was "this T1 is not DICOM"
    ds = pydicom.dcmread(out)
    refs = {r.ReferencedSOPInstanceUID for ev in ds.CurrentRequestedProcedureEvidenceSequence
            for s in ev.ReferencedSeriesSequence for r in s.ReferencedSOPSequence}
    t1_uids = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in (PHANTOM / "t1").iterdir()}
    assert refs and refs <= t1_uids


def enhanced_t1(folder: Path) -> Path:
    import highdicom as hd
    from highdicom.legacy import LegacyConvertedEnhancedMRImage

    datasets = [pydicom.dcmread(p) for p in sorted((PHANTOM / "t1").iterdir())]
    mf = LegacyConvertedEnhancedMRImage(datasets, series_instance_uid=hd.UID(), series_number=98,
                                        sop_instance_uid=hd.UID(), instance_number=1)
    path = folder / "enhanced_t1.dcm"
    mf.save_as(path)
    return path


def test_sr_of_an_enhanced_multiframe_t1_references_the_slab_frames(study, tmp_path):
    import highdicom as hd

    from modic_core.io import load_series

    mf_path = enhanced_t1(tmp_path)
    mf_study = dataclasses.replace(study, t1=load_series(mf_path))
    assert mf_study.t1.shape == study.t1.shape
    out = tmp_path / "sr.dcm"
    lines = write_exports(fake_analysis(mf_study), reliable(make_report(mf_study)), t1_source=str(mf_path),
                          t2_source=PHANTOM / "t2", sr=str(out))
    assert lines == [f"wrote {out} (DICOM SR)"]
    sr = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(out))
    mf = pydicom.dcmread(mf_path, stop_before_pixels=True)
    frame_pos = {k: np.array(item.PlanePositionSequence[0].ImagePositionPatient, float)
                 for k, item in enumerate(mf.PerFrameFunctionalGroupsSequence, start=1)}
    slab = mf_study.t1.index_to_physical(np.array([[z, 0, 0] for z in (6, 7, 8)], float))  # make_report: z_range (6, 8)
    want = {min(frame_pos, key=lambda k: np.linalg.norm(frame_pos[k] - p)) for p in slab}
    for g in sr.content.get_volumetric_roi_measurement_groups():
        refs = [r.ContentSequence[0].ReferencedSOPSequence[0] for r in g.roi]
        assert {r.ReferencedSOPInstanceUID for r in refs} == {mf.SOPInstanceUID}
        assert {int(r.ReferencedFrameNumber) for r in refs} == want  # the frames of the slab, one region each
        conf = next(m for m in g.get_measurements() if m.name.meaning == "Detector confidence")
        assert [int(v) for v in conf.referenced_images[0].ReferencedSOPSequence[0].ReferencedFrameNumber] == sorted(want)
    headers = pydicom.dcmread(io.BytesIO(out.read_bytes()))
    assert headers.Modality == "SR"
