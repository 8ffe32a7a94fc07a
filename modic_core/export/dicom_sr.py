"""DICOM Structured Report (Comprehensive 3D SR, TID 1500 Measurement Report) of a study's findings.

One measurement group per detected level (highdicom ``PlanarROIMeasurementsAndQualitativeEvaluations``):

- the region: the level's box as a closed polyline on the T1 image of the slab's centre slice;
- tracking identifier: the level name (e.g. "L4-L5") and a new UID;
- finding site: the SNOMED CT intervertebral disc structure of the level (e.g. "Intervertebral disc
  structure of fourth lumbar vertebra" for L4-L5), when the level is T8-T9 .. L5-S1;
- qualitative evaluation: the predicted class, coded in the private scheme ``99MODICCORE``
  (there is no standard code for Modic types): MC0 / MC1 / MC2;
- measurements: P(MC0), P(MC1), P(MC2) and the detector confidence (unit UCUM "1");
- algorithm: modic_core, with the normalization and the threshold as parameters.

The report references the source T1 DICOM images (evidence), so it is only possible when the
T1 series was given as DICOM. It carries the patient and study attributes of those images (as
any SR for a PACS must); the dashboard never displays them. Investigational: the SR's series
description and completion flags say it is an unverified research result.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from modic_core.export.style import NOTICE

__all__ = ["PRIVATE_SCHEME", "dicom_sr_bytes", "level_finding_site", "read_series_headers", "series_description"]

PRIVATE_SCHEME = "99MODICCORE"
_DISC_CODES = {
    "L5-S1": "IntervertebralDiscStructureOfFifthLumbarVertebra",
    "L4-L5": "IntervertebralDiscStructureOfFourthLumbarVertebra",
    "L3-L4": "IntervertebralDiscStructureOfThirdLumbarVertebra",
    "L2-L3": "IntervertebralDiscStructureOfSecondLumbarVertebra",
    "L1-L2": "IntervertebralDiscStructureOfFirstLumbarVertebra",
    "T12-L1": "IntervertebralDiscStructureOfTwelfthThoracicVertebra",
    "T11-T12": "IntervertebralDiscStructureOfEleventhThoracicVertebra",
    "T10-T11": "IntervertebralDiscStructureOfTenthThoracicVertebra",
    "T9-T10": "IntervertebralDiscStructureOfNinthThoracicVertebra",
    "T8-T9": "IntervertebralDiscStructureOfEighthThoracicVertebra",
}
_CLASS_MEANING = {"MC0": "No Modic change", "MC1": "Modic type 1 change", "MC2": "Modic type 2 change"}


def series_description() -> str:
    """The SR's SeriesDescription: the investigational notice, within the 64 characters of a DICOM LO."""
    text = "Modic SR - " + NOTICE.replace("—", "-")
    return text if len(text) <= 64 else text[:61].rstrip() + "..."


def level_finding_site(level: str):
    """SNOMED CT code of the level's intervertebral disc (None for unknown names)."""
    from pydicom.sr.codedict import codes

    name = _DISC_CODES.get(level)
    if not name:
        return None
    code = getattr(codes.SCT, name)
    meaning = code.meaning.replace(" (body structure)", "")[:64]  # DICOM caps code meanings at 64 characters
    import highdicom as hd

    return hd.sr.CodedConcept(code.value, code.scheme_designator, meaning)


def read_series_headers(source: Any, series_key: str | None = None) -> list:
    """pydicom headers (no pixels) of the DICOM images of one series in ``source``.

    ``source``: a folder or file path, or uploads (``(name, bytes)`` pairs / UploadedFile objects,
    zips included). ``series_key`` is the :class:`~modic_core.io.SeriesInfo` key (a salted hash of
    the SeriesInstanceUID); None takes every image. Files are read in a temporary folder that is
    removed afterwards.
    """
    import pydicom

    from modic_core.io.dicom import salted_hash
    from modic_core.io.upload import is_upload_like, materialize_uploads, temporary_folder

    def read(paths: Sequence[Path]) -> list:
        out = []
        for p in paths:
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
            except Exception:  # noqa: BLE001 - not DICOM / damaged: not evidence
                continue
            if "SOPInstanceUID" not in ds or "ImagePositionPatient" not in ds or "Rows" not in ds:
                continue
            if series_key is not None and salted_hash(str(ds.get("SeriesInstanceUID", ""))) != series_key:
                continue
            out.append(ds)
        return out

    items = source if isinstance(source, (list, tuple)) else [source]
    if items and all(is_upload_like(i) for i in items):
        with temporary_folder() as tmp:
            return read(materialize_uploads(items, tmp))
    paths: list[Path] = []
    for it in items:
        p = Path(it)
        paths += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    return read(paths)


def _slice_dataset(headers: Sequence, volume, z: int):
    """The header whose ImagePositionPatient is closest to the volume's slice ``z`` origin."""
    target = volume.index_to_physical(np.array([[z, 0, 0]], dtype=float))[0]
    pos = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in headers])
    return headers[int(np.argmin(np.linalg.norm(pos - target, axis=1)))]


def dicom_sr_bytes(report, study, headers: Sequence, *, software_version: str = "research") -> bytes:
    """The Comprehensive 3D SR (TID 1500) of ``report`` as DICOM Part 10 bytes.

    ``headers``: the T1 series' DICOM headers (:func:`read_series_headers`); raises ValueError
    when there are none (non-DICOM input).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    if not headers:
        raise ValueError("a DICOM SR needs the T1 series as DICOM")
    private = lambda value, meaning: hd.sr.CodedConcept(value, PRIVATE_SCHEME, meaning)  # noqa: E731
    unit = hd.sr.CodedConcept("1", "UCUM", "no units")
    algorithm = hd.sr.AlgorithmIdentification(
        name="modic_core Modic change classifier", version=str(software_version),
        parameters=[f"normalization={report.normalization}", f"threshold={float(report.threshold):.2f}"],
    )
    groups = []
    used = []
    for lv in report.levels:
        zc = int(round((lv.z_range[0] + lv.z_range[1]) / 2))
        ds = _slice_dataset(headers, study.t1, zc)
        used.append(ds)
        x0, y0, x1, y1 = (float(v) for v in lv.box)
        polyline = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float32)
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=polyline,
            source_image=hd.sr.SourceImageForRegion.from_source_image(ds),
        )
        site = level_finding_site(lv.level)
        measurements = [
            hd.sr.Measurement(name=private(f"P-{c}", f"Probability of {c}"), value=float(lv.probabilities[c]), unit=unit,
                              algorithm_id=algorithm)
            for c in ("MC0", "MC1", "MC2")
        ]
        measurements.append(hd.sr.Measurement(name=private("DETCONF", "Detector confidence"), value=float(lv.score), unit=unit,
                                              algorithm_id=algorithm))
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=lv.level),
            referenced_region=region,
            finding_type=private("MODIC", "Modic change assessment"),
            algorithm_id=algorithm,
            finding_sites=[hd.sr.FindingSite(anatomic_location=site)] if site is not None else None,
            measurements=measurements,
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(
                name=private("MODIC-CLASS", "Modic classification"),
                value=private(lv.prediction, _CLASS_MEANING.get(lv.prediction, lv.prediction)),
            )],
        ))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="modic_core", model_name="Modic change classifier (research)",
        ),
    )
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=hd.sr.CodedConcept("113091000", "SCT", "Magnetic resonance imaging"),
        imaging_measurements=groups or None,
        title=codes.DCM.ImagingMeasurementReport,
    )
    evidence = list({ds.SOPInstanceUID: ds for ds in (used or [headers[0]])}.values())
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence, content=content, series_instance_uid=generate_uid(), series_number=990,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer="modic_core (research software)",
        is_complete=True, is_final=False, is_verified=False,
    )
    sr.SeriesDescription = series_description()
    buf = io.BytesIO()
    sr.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
