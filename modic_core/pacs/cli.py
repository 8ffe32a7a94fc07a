"""``modic-analyze --dicomweb URL --study STUDY_UID ...``: one study straight from a PACS.

    modic-analyze --dicomweb URL --study STUDY_UID [--t1-series UID --t2-series UID] --json out.json
                  [--csv F] [--pdf F] [--store-sr]

Without ``--t1-series``/``--t2-series`` the pair is proposed by the uploads' rule
(:meth:`Archive.propose_pair`); a study without a sagittal T1/T2 pair exits with status 2 and a sentence.
Sign-in and TLS come from the environment (``MODIC_DICOMWEB_USER``/``PASSWORD``/``TOKEN``/``VERIFY``,
docs/settings.md); ``--dicomweb`` overrides ``MODIC_DICOMWEB_URL``. ``--store-sr`` sends the DICOM SR into
the same study (STOW-RS). Exit status: 0 done, 2 bad input or a PACS failure (one sentence on stderr),
3 the study was analysed but a requested file or the SR could not be made.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
import json
import sys

from modic_core import settings
from modic_core.analysis.analyze import get_analysis, models_available
from modic_core.cli_args import coverage as coverage_arg, threshold as threshold_arg
from modic_core.errors import InputError
from modic_core.export.dicom_sr import dicom_sr_bytes
from modic_core.io.outputs import check_output, write_output
from modic_core.logs import configure_logging
from modic_core.normalization.methods import NORMALIZATIONS
from modic_core.pacs.archive import open_archive
from modic_core.pacs.config import DicomwebConfig, dicomweb_config

__all__ = ["analyze_main", "config_for", "wants_dicomweb"]


def wants_dicomweb(argv: list[str] | None) -> bool:
    """True when the command line names a DICOMweb archive (``--dicomweb``)."""
    args = sys.argv[1:] if argv is None else argv
    return any(a == "--dicomweb" or a.startswith("--dicomweb=") for a in args)


def config_for(url: str) -> DicomwebConfig:
    """The environment's DICOMweb settings (sign-in, TLS, timeout) with ``url`` as the archive."""
    config = dicomweb_config(url)
    assert config is not None  # a URL was given
    return config


def analyze_main(argv: list[str] | None = None, *, write_exports: Callable[..., list[str]]) -> int:
    """The ``--dicomweb`` form of ``modic-analyze`` (see the module docstring). ``write_exports`` is
    :func:`modic_core.export.cli.write_exports`, handed in by the entry point that dispatches here (so the
    two command-line modules do not import each other)."""
    ap = argparse.ArgumentParser(prog="modic-analyze", description="Analyse one study from a PACS (DICOMweb).")
    ap.add_argument("--dicomweb", required=True, metavar="URL", help="DICOMweb base URL of the archive")
    ap.add_argument("--study", required=True, metavar="STUDY_UID", help="StudyInstanceUID to analyse")
    ap.add_argument("--t1-series", metavar="UID", help="SeriesInstanceUID of the T1 (with --t2-series)")
    ap.add_argument("--t2-series", metavar="UID", help="SeriesInstanceUID of the T2 (with --t1-series)")
    ap.add_argument("--json", required=True, help="write the report (without heatmaps) to this JSON file")
    ap.add_argument("--csv", help="write the per-level table (CSV) to this file")
    ap.add_argument("--pdf", help="write the PDF report (one to two pages) to this file")
    ap.add_argument("--store-sr", action="store_true", help="store the DICOM SR into the same study (STOW-RS)")
    ap.add_argument("--normalization", default=settings.default_normalization())
    ap.add_argument("--threshold", type=threshold_arg, default=settings.default_threshold())
    ap.add_argument("--coverage", type=coverage_arg, default=None)
    ap.add_argument("--no-gradcam", action="store_true")
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    try:
        if args.normalization not in NORMALIZATIONS:
            raise InputError(f"Unknown normalization {args.normalization!r}; choose one of {', '.join(NORMALIZATIONS)}.")
        for option, target in (("--json", args.json), ("--csv", args.csv), ("--pdf", args.pdf)):
            if target:
                check_output(option, target)
        missing = [k for k, ok in models_available().items() if not ok and k in ("detector", args.normalization)]
        if missing:
            raise InputError(f"The model weights for {', '.join(missing)} are not installed in {settings.weights_dir()}; "
                             "install them or set MODIC_WEIGHTS_DIR.")
        archive = open_archive(config_for(args.dicomweb))
        pair = archive.retrieve_study(args.study, args.t1_series, args.t2_series)
        analysis = get_analysis(pair.study)
        report = analysis.report(args.normalization, args.threshold, gradcam=not args.no_gradcam, coverage=args.coverage)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for sentence in report.warnings:
        print(("WARNING: " if report.reliable else "ALERT: ") + sentence, file=sys.stderr)
    table = report.table()
    print(table.to_string(index=False) if len(table) else f"No disc was found at this threshold ({report.threshold:.2f}).")
    status = 0
    try:
        write_output("--json", args.json, json.dumps(report.to_dict(), indent=2))
        print(f"wrote {args.json} (JSON report)")
        for line in write_exports(analysis, report, t1_source=None, csv=args.csv, pdf=args.pdf):
            print(line)
    except InputError as exc:
        for line in getattr(exc, "done", []):
            print(line)
        print(f"error: {exc}", file=sys.stderr)
        status = 3
    if args.store_sr:
        try:
            sr = dicom_sr_bytes(report, pair.study, pair.t1_headers, t2_headers=pair.t2_headers)
            archive.store_sr(sr, study_uid=args.study)
            print("stored the DICOM SR in the PACS, in the same study")
        except InputError as exc:
            print(f"error: --store-sr: {exc}", file=sys.stderr)
            status = 3
    return status
