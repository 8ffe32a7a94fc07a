"""The analysis command line with the dashboard's downloads:

    python -m modic_core.analysis T1 T2 [--csv F] [--pdf F] [--sr F] [--json F]

writes the same per-level CSV, PDF report and DICOM SR as the case viewer (same study label, the
T2 placed where the alignment check put it). The SR needs a DICOM T1 and a passed alignment
check; otherwise the command says why and exits with status 2 (bad input) or 3 (no SR for an
unreliable study, the other files are written).
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from modic_core.errors import InputError

__all__ = ["main", "study_label", "write_exports"]


def study_label(study, fingerprint: str) -> str:
    """The 8-hex-digit study label of the dashboard (hashed StudyInstanceUID, else the pixel fingerprint)."""
    sh = getattr(study.t1.meta, "study_hash", None)
    return hashlib.sha256(("modic-ui/" + str(sh or fingerprint)).encode()).hexdigest()[:8]


def _add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--csv", help="write the per-level table (CSV) to this file")
    ap.add_argument("--pdf", help="write the one-page PDF report to this file")
    ap.add_argument("--sr", help="write the findings as a DICOM SR (T1 must be DICOM) to this file")


def _check(args: argparse.Namespace, study) -> None:
    if args.sr and study.t1.meta.source != "dicom":
        raise InputError("--sr needs the T1 series as DICOM (the SR references its images); this T1 is "
                         f"{study.t1.meta.source or 'not DICOM'}. Leave out --sr or give the DICOM series.")
    for name in ("csv", "pdf", "sr"):
        target = getattr(args, name)
        if target and not Path(target).parent.resolve().is_dir():
            raise InputError(f"--{name}: the folder of {target} does not exist.")


def write_exports(analysis, report, *, t1_source, t2_source=None, csv: str | None = None, pdf: str | None = None,
                  sr: str | None = None) -> list[str]:
    """Write the requested files; returns one line per file written.

    Raises:
        InputError: an SR was asked for an unreliable study (after the CSV and PDF are written).
    """
    from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers
    from modic_core.export.documents import build_pdf_report, report_csv

    study = analysis.study
    label = study_label(study, analysis.fingerprint)
    done = []
    if csv:
        Path(csv).write_bytes(report_csv(report, study_label=label))
        done.append(f"wrote {csv} (per-level CSV)")
    if pdf:
        Path(pdf).write_bytes(build_pdf_report(analysis.placed_study(), report, study_label=label, device=report.device))
        done.append(f"wrote {pdf} (PDF report)")
    if sr:
        t2_headers = read_series_headers(t2_source) if t2_source is not None and study.t2.meta.source == "dicom" else []
        Path(sr).write_bytes(dicom_sr_bytes(report, study, read_series_headers(t1_source), t2_headers=t2_headers))
        done.append(f"wrote {sr} (DICOM SR)")
    return done


def _write(args: argparse.Namespace, analysis, report) -> list[str]:
    return write_exports(analysis, report, t1_source=args.t1, t2_source=args.t2, csv=args.csv, pdf=args.pdf, sr=args.sr)


def _exporter():
    from modic_core.analysis.analyze import CliExporter

    return CliExporter(add_arguments=_add_arguments, check=_check, write=_write)




def main(argv: list[str] | None = None) -> int:
    """``python -m modic_core.analysis`` / ``modic-analyze``: analysis plus the dashboard's files."""
    from modic_core.analysis.analyze import main as analysis_main

    return analysis_main(argv, exporter=_exporter())
