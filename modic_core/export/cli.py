"""The analysis command line with the dashboard's downloads:

    python -m modic_core.analysis T1 T2 [--csv F] [--pdf F] [--sr F] [--json F]

writes the same per-level CSV, PDF report and DICOM SR as the case viewer (same study label, the
T2 placed where the alignment check put it). Every output path is checked before the analysis (a
folder, a device or an unwritable path: one sentence, status 2). The SR needs a DICOM T1
(folder, files or zip; single- or multi-frame) and a passed alignment check; otherwise the command
says why and exits with status 2 (bad input) or 3 (a file could not be made: no SR for an
unreliable study, a full disk; the other files are written).
"""
from __future__ import annotations

import argparse
import sys

from modic_core.errors import InputError
from modic_core.export.labels import study_label
from modic_core.io.outputs import check_output, write_output

__all__ = ["ExportError", "main", "write_exports"]


def _add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--csv", help="write the per-level table (CSV) to this file")
    ap.add_argument("--pdf", help="write the PDF report (one to two pages) to this file")
    ap.add_argument("--sr", help="write the findings as a DICOM SR (T1 must be DICOM) to this file")


def _check(args: argparse.Namespace, study) -> None:
    if args.sr and study.t1.meta.source != "dicom":
        raise InputError("--sr needs the T1 series as DICOM (the SR references its images); this T1 is "
                         f"{study.t1.meta.source or 'not DICOM'}. Leave out --sr or give the DICOM series.")
    for name in ("csv", "pdf", "sr"):
        target = getattr(args, name)
        if target:
            check_output(f"--{name}", target)  # a folder, a device, an unwritable path: refused before the analysis


class ExportError(InputError):
    """Some requested files could not be made; ``done`` holds the lines of those that were written."""

    def __init__(self, message: str, *, done: list[str]) -> None:
        super().__init__(message)
        self.done = list(done)


def write_exports(analysis, report, *, t1_source, t2_source=None, csv: str | None = None, pdf: str | None = None,
                  sr: str | None = None) -> list[str]:
    """Write the requested files; returns one line per file written. A report without levels gives
    every file too (the CSV with its header only), and the lines say that no disc was found.

    The SR references the images of the T1 (and T2) series given: a folder, files or a zip of DICOM
    images, single-frame or enhanced multi-frame; only the series that was analysed is taken.

    Raises:
        ExportError: a file could not be made (an SR for an unreliable study, a failed build, a failed
            write: one sentence each); the others are written first and listed in ``done``.
    """
    # lazy: modic_core.export.dicom_sr, modic_core.export.documents pull in torch; only the model path needs it
    from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers
    from modic_core.export.documents import build_pdf_report, report_csv

    study = analysis.study
    label = study_label(study, analysis.fingerprint)
    none = "" if report.levels else "; no disc was found"
    done: list[str] = []
    failed: list[str] = []

    def make(option: str, target: str, what: str, build) -> None:
        try:
            data = build()
        except InputError as exc:
            failed.append(f"{option}: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - one file that cannot be built must not cost the others
            failed.append(f"{option}: the {what} could not be built ({type(exc).__name__}); {target} was not written.")
            return
        try:
            write_output(option, target, data)
        except InputError as exc:
            failed.append(str(exc))
            return
        done.append(f"wrote {target} ({what}{none})")

    def sr_bytes() -> bytes:
        t1_headers = read_series_headers(t1_source, study.t1.meta.series_uid_hash)
        t2_headers = (read_series_headers(t2_source, study.t2.meta.series_uid_hash)
                      if t2_source is not None and study.t2.meta.source == "dicom" else [])
        return dicom_sr_bytes(report, study, t1_headers, t2_headers=t2_headers)

    if csv:
        make("--csv", csv, "per-level CSV", lambda: report_csv(report, study_label=label))
    if pdf:
        make("--pdf", pdf, "PDF report",
             lambda: build_pdf_report(analysis.placed_study(), report, study_label=label, device=report.device))
    if sr:
        make("--sr", sr, "DICOM SR", sr_bytes)
    if failed:
        raise ExportError(" ".join(failed), done=done)
    return done


def _write(args: argparse.Namespace, analysis, report) -> list[str]:
    return write_exports(analysis, report, t1_source=args.t1, t2_source=args.t2, csv=args.csv, pdf=args.pdf, sr=args.sr)


def _exporter():
    # lazy: modic_core.analysis.analyze pulls in torch; only the model path needs it
    from modic_core.analysis.analyze import CliExporter

    return CliExporter(add_arguments=_add_arguments, check=_check, write=_write)




def main(argv: list[str] | None = None) -> int:
    """``python -m modic_core.analysis`` / ``modic-analyze``: analysis plus the dashboard's files; with
    ``--dicomweb URL --study UID`` the study comes from a PACS (:mod:`modic_core.pacs.cli`)."""
    if any(a == "--dicomweb" or a.startswith("--dicomweb=") for a in (sys.argv[1:] if argv is None else argv)):
        # lazy: the PACS form of the command sits above this layer (an ignored import in pyproject)
        from modic_core.pacs.cli import analyze_main

        return analyze_main(argv, write_exports=write_exports)
    # lazy: modic_core.analysis.analyze pulls in torch; only the model path needs it
    from modic_core.analysis.analyze import main as analysis_main

    return analysis_main(argv, exporter=_exporter())
