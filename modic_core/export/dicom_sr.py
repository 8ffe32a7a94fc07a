"""DICOM Structured Report (Comprehensive 3D SR, TID 1500 Measurement Report) of a study's findings.

One volumetric measurement group per detected level (highdicom
``VolumetricROIMeasurementsAndQualitativeEvaluations``, TID 1411):

- the region: the level's box as a closed polyline on the T1 image of every slice of its slab
  (``LevelResult.z_range``), so a viewer shows the whole slab, not one slice;
- tracking identifier: the level name (e.g. "L4-L5") and a new UID;
- finding site: the SNOMED CT intervertebral disc structure of the level, for T8-T9 .. L5-S1;
- qualitative evaluation: the predicted class in the private scheme ``99MODICCORE``
  (:mod:`modic_core.export.codes`): MC0 / MC1 / MC2, or "Not graded" for a level the T2 series
  does not cover (then no probability is written); for a graded level also one "Grade in prediction
  set" evaluation per grade of its conformal prediction set (``LevelResult.prediction_set``: "Modic type 2
  change", or two items for "MC0 or MC2") and "Grading certainty" = "Uncertain (more than one grade in
  the prediction set)", "One grade in the prediction set", or "No prediction set (no conformal
  calibration)" when the weights carry none (``report.coverage`` None);
- measurements: P(MC0), P(MC1), P(MC2) (the model's uncertainty), each referencing the T1 and
  the T2 images of the slab it was computed from, and the detector confidence (unit UCUM "1");
- algorithm: modic_core, with the normalization, the threshold, the prediction sets' coverage and the
  T1/T2 alignment check's sentence as parameters;
- TID 1500's "Qualitative Evaluations" container (UMLS C0034375) at the root: "Level naming" =
  "Level naming uncertain" or "Level naming not flagged" (``report.naming_uncertain``) with the
  report's naming warning as text ("Intervertebral discs found" = "No disc found" when no level was
  found; the optional Imaging Measurements container is then left out), and, when the user corrected the names, "Level names" =
  "Level names corrected by user" plus a text item with what was changed (e.g. "all names shifted
  up by one level"); the tracking identifiers and finding sites then carry the corrected names;
  then one TEXT item "Warning" per sentence of ``report.warnings``, "T1/T2 alignment check" (its
  sentence) and one "T1/T2 alignment record field" (``key=value``) per key of
  ``report.alignment.to_dict()``, as the CSV's ``alignment_<key>`` columns. Text values are plain
  (:func:`modic_core.text.plain_text`) within DICOM's ST (1024) and LO (64, algorithm parameters) limits.

The private scheme is declared in the CodingSchemeIdentificationSequence. The evidence lists
every referenced T1 and T2 image. Enhanced multi-frame series are referenced frame by frame
(ReferencedFrameNumber of the frame each slice comes from, its position from the per-frame
functional groups). The SR is only made when the T1 series was given as DICOM and
the alignment check passed (``report.reliable``): otherwise :class:`~modic_core.errors.InputError`.
It carries the patient and study attributes of the T1 images (as any SR for a PACS must); the
dashboard never displays them. Investigational: the series description and the completion and
verification flags say it is an unverified research result.
"""
from __future__ import annotations

import io
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from modic_core.errors import InputError
from modic_core.export.codes import (PRIVATE_SCHEME, certainty_code, class_code, coding_scheme_item, level_finding_site, private_code,
                                     set_member_concept)
from modic_core.export.fields import alignment_fields, alignment_record
from modic_core.export.style import NOTICE
from modic_core.text import DICOM_LO_CHARS, DICOM_ST_CHARS, plain_text
from modic_core.io.dicom import salted_hash
from modic_core.io.upload import extract_zip, is_upload_like, materialize_uploads, temporary_folder

__all__ = ["PRIVATE_SCHEME", "dicom_sr_bytes", "level_finding_site", "read_series_headers", "series_description",
           "slab_images"]


def series_description() -> str:
    """The SR's SeriesDescription: the investigational notice, within the 64 characters of a DICOM LO."""
    text = "Modic SR - " + NOTICE.replace("\u2014", "-")
    return text if len(text) <= 64 else text[:61].rstrip() + "..."


def read_series_headers(source: Any, series_key: str | None = None) -> list:
    """pydicom headers (no pixels) of the DICOM images of one series in ``source``.

    ``source``: a folder, a file or a zip path, or uploads (``(name, bytes)`` pairs / UploadedFile
    objects, zips included). Enhanced multi-frame images are kept (their frames' positions are in
    the per-frame functional groups). ``series_key`` is the :class:`~modic_core.io.SeriesInfo` key (a salted hash of
    the SeriesInstanceUID); None takes every image. Files are read in a temporary folder that is
    removed afterwards.
    """
    import pydicom  # lazy: pydicom is heavy; only DICOM input/output needs it

    def read(paths: Sequence[Path]) -> list:
        out = []
        for p in paths:
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
            except Exception:  # noqa: BLE001 - not DICOM / damaged: not evidence
                continue
            if "SOPInstanceUID" not in ds or "Rows" not in ds:
                continue
            if "ImagePositionPatient" not in ds and "PerFrameFunctionalGroupsSequence" not in ds:
                continue
            if series_key is not None and salted_hash(str(ds.get("SeriesInstanceUID", ""))) != series_key:
                continue
            out.append(ds)
        return out

    items = source if isinstance(source, (list, tuple)) else [source]
    if items and all(is_upload_like(i) for i in items):
        with temporary_folder() as tmp:
            return read(materialize_uploads(items, tmp))
    with ExitStack() as stack:
        paths: list[Path] = []
        for it in items:
            p = Path(it)
            if p.is_dir():
                paths += sorted(q for q in p.rglob("*") if q.is_file())
            elif p.is_file() and zipfile.is_zipfile(p):  # a zip of the series: its DICOM files, unpacked with the upload limits
                paths += extract_zip(p, stack.enter_context(temporary_folder()))
            else:
                paths.append(p)
        return read(paths)


@dataclass(frozen=True)
class _Frame:
    """One image plane of a series: a single-frame image (``number`` None) or frame ``number``
    (1-based) of an enhanced multi-frame image; ``position`` its ImagePositionPatient (LPS mm)."""

    ds: Any
    number: int | None
    position: tuple[float, float, float]


def _frames(headers: Sequence) -> list[_Frame]:
    """The image planes of ``headers``: one per single-frame image, one per frame of a multi-frame image
    (position from its PlanePositionSequence; frames without one are skipped)."""
    out = []
    for ds in headers:
        if int(ds.get("NumberOfFrames", 1) or 1) > 1 and "PerFrameFunctionalGroupsSequence" in ds:
            for k, item in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
                try:
                    ipp = item.PlanePositionSequence[0].ImagePositionPatient
                    out.append(_Frame(ds, k, tuple(float(v) for v in ipp)))
                except (AttributeError, IndexError, KeyError, TypeError, ValueError):
                    continue
        elif "ImagePositionPatient" in ds:
            out.append(_Frame(ds, None, tuple(float(v) for v in ds.ImagePositionPatient)))
    return out


def _plane_offsets(frames: Sequence[_Frame], normal: np.ndarray, shift_mm: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Position (mm) of each frame's image plane along ``normal`` (LPS), after adding ``shift_mm``."""
    pos = np.array([f.position for f in frames], dtype=float) + np.asarray(shift_mm, float)
    return pos @ np.asarray(normal, float)


def slab_images(headers: Sequence, volume, z_range: Sequence[int], *, shift_mm: Sequence[float] = (0.0, 0.0, 0.0)) -> list:
    """The images of ``headers`` that lie in the slab ``z_range`` (first, last slice of ``volume``, inclusive).

    An image is in the slab when its plane lies within half a slice spacing of the slab's
    first..last slice plane (measured along ``volume``'s slice normal, after ``shift_mm``, the
    shift the alignment check applied to that series); when none does, the image nearest to
    each slab slice. Sorted along the normal, no duplicates (a multi-frame image once).
    """
    out = {}
    for f in _slab_frames(_frames(headers), volume, z_range, shift_mm=shift_mm):
        out.setdefault(f.ds.SOPInstanceUID, f.ds)
    return list(out.values())


def _slab_frames(frames: Sequence[_Frame], volume, z_range: Sequence[int], *,
                 shift_mm: Sequence[float] = (0.0, 0.0, 0.0)) -> list[_Frame]:
    """The frames in the slab ``z_range``, by the rule of :func:`slab_images`."""
    if not frames:
        return []
    normal = np.asarray(volume.slice_normal, float)
    z0, z1 = sorted(int(v) for v in z_range)
    zs = np.arange(z0, z1 + 1)
    idx = np.zeros((len(zs), 3))
    idx[:, 0] = zs
    slab = volume.index_to_physical(idx) @ normal
    planes = _plane_offsets(frames, normal, shift_mm)
    tol = 0.5 * float(volume.spacing[0]) + 1e-3
    inside = np.where((planes >= slab.min() - tol) & (planes <= slab.max() + tol))[0]
    if not len(inside):
        inside = np.unique([int(np.argmin(np.abs(planes - d))) for d in slab])
    inside = sorted(set(int(i) for i in inside), key=lambda i: planes[i])
    return [frames[i] for i in inside]


def _t1_frame(frames: Sequence[_Frame], volume, z: int) -> _Frame:
    """The T1 frame whose ImagePositionPatient is closest to the volume's slice ``z`` origin."""
    target = volume.index_to_physical(np.array([[z, 0, 0]], dtype=float))[0]
    pos = np.array([f.position for f in frames], dtype=float)
    return frames[int(np.argmin(np.linalg.norm(pos - target, axis=1)))]


def _unique_frames(frames: Sequence[_Frame]) -> list[_Frame]:
    return list({(f.ds.SOPInstanceUID, f.number): f for f in frames}.values())


def _measurement_sources(frames: Sequence[_Frame]) -> list:
    """One SourceImageForMeasurement per image, listing the referenced frames of a multi-frame image."""
    import highdicom as hd  # lazy: highdicom is heavy; only DICOM input/output needs it

    by_uid: dict[str, tuple[Any, list[int]]] = {}
    for f in frames:
        by_uid.setdefault(f.ds.SOPInstanceUID, (f.ds, []))[1].extend([] if f.number is None else [f.number])
    return [hd.sr.SourceImageForMeasurement.from_source_image(ds, referenced_frame_numbers=sorted(set(nums)) or None)
            for ds, nums in by_uid.values()]


def _set_evaluations(lv, *, calibrated: bool) -> list:
    """A graded level's prediction set (one "Grade in prediction set" per grade) and its "Grading certainty"."""
    import highdicom as hd  # lazy: highdicom is heavy; only DICOM input/output needs it

    items = [hd.sr.QualitativeEvaluation(name=set_member_concept(), value=class_code(g))
             for g in (getattr(lv, "prediction_set", ()) if calibrated else ())]
    certainty = bool(getattr(lv, "uncertain", False)) if calibrated else None
    return items + [hd.sr.QualitativeEvaluation(name=private_code("MODIC-CERTAINTY", "Grading certainty"),
                                                value=certainty_code(certainty))]


#: TID 1500 row "Qualitative Evaluations" (a container of CODE and TEXT items about the whole report).
QUALITATIVE_EVALUATIONS = ("C0034375", "UMLS", "Qualitative Evaluations")


def _naming_evaluations(report):
    """The root's "Qualitative Evaluations" container: naming uncertainty and the user's correction."""
    import highdicom as hd  # lazy: highdicom is heavy; only DICOM input/output needs it

    contains = hd.sr.RelationshipTypeValues.CONTAINS
    uncertain = bool(getattr(report, "naming_uncertain", False))
    items = [hd.sr.CodeContentItem(
        name=private_code("LEVELNAMING", "Level naming"),
        value=private_code("UNCERTAIN", "Level naming uncertain") if uncertain
        else private_code("NOTFLAGGED", "Level naming not flagged"), relationship_type=contains)]
    why = [w for w in (getattr(report, "warnings", None) or []) if "naming uncertain" in str(w).lower()]
    if uncertain and why:
        items.append(hd.sr.TextContentItem(name=private_code("NAMINGNOTE", "Level naming note"), value=_text(why[0]),
                                           relationship_type=contains))
    if getattr(report, "names_corrected_by_user", False):
        items += [
            hd.sr.CodeContentItem(name=private_code("LEVELNAMES", "Level names"),
                                  value=private_code("USERCORR", "Level names corrected by user"), relationship_type=contains),
            hd.sr.TextContentItem(name=private_code("NAMECORR", "Level name correction by user"),
                                  value=_text(report.naming_correction or "corrected"), relationship_type=contains),
        ]
    if not getattr(report, "levels", None):
        items.append(hd.sr.CodeContentItem(name=private_code("DISCSFOUND", "Intervertebral discs found"),
                                           value=private_code("NODISC", "No disc found"), relationship_type=contains))
    items += _warning_items(report)
    container = hd.sr.ContainerContentItem(name=hd.sr.CodedConcept(*QUALITATIVE_EVALUATIONS), relationship_type=contains)
    container.ContentSequence = hd.sr.ContentSequence(items)
    return container


def _text(value) -> str:
    """A TEXT item's value: plain text within a DICOM ST's 1024 characters (UT allows more; viewers may not)."""
    return plain_text(value, limit=DICOM_ST_CHARS, ellipsis="...") or "-"


def _warning_items(report) -> list:
    """TEXT items of the report's warnings (one per sentence), the alignment check's sentence and
    every key of its record (``"key=value"``, as the CSV's ``alignment_<key>`` columns)."""
    import highdicom as hd  # lazy: highdicom is heavy; only DICOM input/output needs it

    contains = hd.sr.RelationshipTypeValues.CONTAINS
    items = [hd.sr.TextContentItem(name=private_code("WARNING", "Warning"), value=_text(w), relationship_type=contains)
             for w in (getattr(report, "warnings", None) or [])]
    alignment = getattr(report, "alignment", None)
    if alignment is not None:
        items.append(hd.sr.TextContentItem(name=private_code("ALIGNCHECK", "T1/T2 alignment check"),
                                           value=_text(alignment.sentence()), relationship_type=contains))
        items += [hd.sr.TextContentItem(name=private_code("ALIGNFIELD", "T1/T2 alignment record field"),
                                        value=_text(f"{col.removeprefix('alignment_')}={v}"), relationship_type=contains)
                  for col, v in alignment_fields(alignment_record(report)).items()]
    return items


def dicom_sr_bytes(report, study, headers: Sequence, *, t2_headers: Sequence = (), software_version: str = "research") -> bytes:
    """The Comprehensive 3D SR (TID 1500) of ``report`` as DICOM Part 10 bytes.

    ``headers``: the T1 series' DICOM headers (:func:`read_series_headers`); ``t2_headers``: the T2
    series' (optional; the probabilities then reference the T2 images of each slab too).

    Raises:
        InputError: the alignment check failed (``report.reliable`` is False), or no T1 DICOM headers.
    """
    # lazy: highdicom and pydicom are heavy; only DICOM input/output needs it
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    if not report.reliable:
        raise InputError("No DICOM SR is made for this study: the T1/T2 alignment check failed, so the grades, "
                         "which depend on T2, cannot be trusted. Check that the two series belong together.")
    headers = list(headers)
    t1_frames, t2_frames = _frames(headers), _frames(list(t2_headers or []))
    if not t1_frames:
        raise InputError("A DICOM SR needs the T1 series as DICOM images with their positions (it references "
                         "them); none was found among the T1 files given.")
    unit = hd.sr.CodedConcept("1", "UCUM", "no units")
    alignment = getattr(report, "alignment", None)
    coverage = getattr(report, "coverage", None)
    params = [f"normalization={report.normalization}", f"threshold={float(report.threshold):.2f}",
              "prediction-set coverage=" + ("none" if coverage is None else f"{float(coverage):.2f}")]
    if alignment is not None:
        params.append("T1/T2 alignment: " + alignment.sentence())
    params = [plain_text(p, limit=DICOM_LO_CHARS, ellipsis="...") for p in params]  # AlgorithmParameters is LO: 64 characters
    algorithm = hd.sr.AlgorithmIdentification(name="modic_core Modic change classifier", version=str(software_version),
                                              parameters=params)
    shift = tuple(getattr(alignment, "translation_mm", (0.0, 0.0, 0.0)) or (0.0, 0.0, 0.0))
    groups, evidence = [], {}
    for lv in report.levels:
        z0, z1 = sorted(int(v) for v in lv.z_range)
        t1_sel = _unique_frames([_t1_frame(t1_frames, study.t1, z) for z in range(z0, z1 + 1)])
        t2_sel = _slab_frames(t2_frames, study.t1, (z0, z1), shift_mm=shift)
        evidence.update({f.ds.SOPInstanceUID: f.ds for f in t1_sel + t2_sel})
        x0, y0, x1, y1 = (float(v) for v in lv.box)
        polyline = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float32)
        regions = [hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=polyline,
                                     source_image=hd.sr.SourceImageForRegion.from_source_image(
                                         f.ds, referenced_frame_numbers=None if f.number is None else [f.number]))
                   for f in t1_sel]
        t1_sources = _measurement_sources(t1_sel)
        sources = t1_sources + _measurement_sources(t2_sel)
        measurements = []
        if lv.graded:
            measurements += [
                hd.sr.Measurement(name=private_code(f"P-{c}", f"Probability of {c}"), value=float(lv.probabilities[c]),
                                  unit=unit, algorithm_id=algorithm, referenced_images=sources)
                for c in ("MC0", "MC1", "MC2")
            ]
        measurements.append(hd.sr.Measurement(
            name=private_code("DETCONF", "Detector confidence"), value=float(lv.score), unit=unit, algorithm_id=algorithm,
            referenced_images=t1_sources))
        site = level_finding_site(lv.level)
        groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=lv.level),
            referenced_regions=regions,
            finding_type=private_code("MODIC", "Modic change assessment"),
            algorithm_id=algorithm,
            finding_sites=[hd.sr.FindingSite(anatomic_location=site)] if site is not None else None,
            measurements=measurements,
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(
                name=private_code("MODIC-CLASS", "Modic classification"), value=class_code(lv.prediction))]
            + (_set_evaluations(lv, calibrated=coverage is not None) if lv.graded else []),
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
        imaging_measurements=groups or [hd.sr.MeasurementsAndQualitativeEvaluations(  # highdicom needs one to build
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="none"))],
        title=codes.DCM.ImagingMeasurementReport,
    )
    if not groups:  # no disc found: TID 1500 without its optional Imaging Measurements container (said below)
        root = content[0].ContentSequence
        keep = [it for it in root if it.ConceptNameCodeSequence[0].CodeValue != codes.DCM.ImagingMeasurements.value]
        content[0].ContentSequence = hd.sr.ContentSequence(keep)
    content[0].ContentSequence.append(_naming_evaluations(report))
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(evidence.values()) or [headers[0]], content=content, series_instance_uid=generate_uid(),
        series_number=990, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer="modic_core (research software)", is_complete=True, is_final=False, is_verified=False,
        coding_schemes=[coding_scheme_item()], series_description=series_description(),
        software_versions=str(software_version)[:64],
    )
    buf = io.BytesIO()
    sr.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
