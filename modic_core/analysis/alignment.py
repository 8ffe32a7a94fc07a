"""The T1/T2 alignment check of a study, run with the disc detector on each sequence.

1. T2 as placed by its header (resampled onto the T1 grid): discs found on T1 and on that T2 are
   matched (:func:`modic_core.pairing.alignment.measure`).
2. If that fails, or the headers do not share a frame of reference, the discs found on the native
   T2 give a translation onto the T1 discs (:func:`~modic_core.pairing.alignment.translation_from_centres`);
   the T2 is moved, resampled again and measured again. The better of the two placements is kept.
3. Multi-slice pairs: the spine's midline is found on each series (the middle of the slices on
   which the detector finds discs, weighted by score and width); when the placed T2's lies more
   than half a slice spacing from the T1's, T2 is moved along the slice normal and measured
   again; a pair still further apart fails (``Alignment.through_plane_mm`` / ``_residual_mm``).
4. The placed pair's content (:mod:`modic_core.pairing.content`): contrast direction (T1 and T2
   swapped), near-identical series, a T2 upside down with respect to its header. Each failed
   check adds a sentence to ``Alignment.problems`` and makes ``ok`` False.

Cost: one detector pass over the T2's central slice when the header placement holds (T1 regions
come from the analysis), three when T2 must be moved; multi-slice pairs add one pass over all
slices of each series (and one more after a through-plane move). Disc centres are compared
within the sagittal plane (the through-plane offset of one disc centre is not measurable on a few
slices); the through-plane offset comes from step 3 (single-slice series: not measurable).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from modic_core.detection.infer import Detection, Detector
from modic_core.pairing.alignment import Alignment, measure, peak_at_edge, slab_centre, translation_from_centres
from modic_core.pairing.content import (MAX_FLIP_GAIN, MAX_SIMILARITY, MIN_CONTRAST_SCORE, contrast_score, flip_gain,
                                        posterior_sign, similarity)
from modic_core.pairing.study import resample_to
from modic_core.volume import Study, Volume

__all__ = ["ALIGN_THRESHOLD", "NOTE_NO_MIDLINE", "NOTE_SHARED_FRAME", "NOTE_SINGLE_SLICE", "check_alignment", "content_problems",
           "disc_centres", "header_trusted", "shared_frame_of_reference", "slice_weights"]

#: Detector confidence of the discs used for the check (independent of the user's slider).
ALIGN_THRESHOLD = 0.5


def disc_centres(volume: Volume, detections: Sequence[Detection]) -> np.ndarray:
    """(N, 3) LPS mm centres (x, y, z) of detected regions on ``volume``'s grid."""
    if not detections:
        return np.zeros((0, 3))
    zyx = np.array([[d.z_center, (d.box[1] + d.box[3]) / 2, (d.box[0] + d.box[2]) / 2] for d in detections])
    return volume.index_to_physical(zyx)


#: Why an Alignment has no through-plane offset (``Alignment.through_plane_note``).
NOTE_SINGLE_SLICE = "not measurable on single-slice series"
NOTE_SHARED_FRAME = "not checked: both series share the scanner's frame of reference and their discs line up"
NOTE_NO_MIDLINE = "not measurable: the discs do not show where the midline lies across the slices"


def shared_frame_of_reference(study: Study) -> bool:
    """True when both series record the same (non-empty) DICOM FrameOfReferenceUID."""
    f1 = study.t1.meta.frame_of_reference_uid
    f2 = (study.t2_native or study.t2).meta.frame_of_reference_uid
    return bool(f1 and f2 and f1 == f2)


def header_trusted(study: Study) -> bool:
    """True unless both series record a frame of reference and they differ."""
    f1 = study.t1.meta.frame_of_reference_uid
    f2 = (study.t2_native or study.t2).meta.frame_of_reference_uid
    return not (f1 and f2 and f1 != f2)


def _shifted(volume: Volume, t: np.ndarray) -> Volume:
    return Volume(volume.array, volume.spacing, tuple(np.asarray(volume.origin) + t), volume.direction.copy(), volume.meta)


def slice_weights(volume: Volume, detector: Detector) -> list[float]:
    """Disc evidence on every slice of ``volume``: the sum of score x box width (mm) of the regions
    found at :data:`ALIGN_THRESHOLD` (one detector pass over all slices)."""
    per = detector.detect_slices(volume, list(range(volume.shape[0])))
    sx = float(volume.spacing[2])
    out = []
    for z in range(volume.shape[0]):
        boxes, scores = np.asarray(per[z][0], float).reshape(-1, 4), np.asarray(per[z][1], float).reshape(-1)
        keep = scores >= ALIGN_THRESHOLD
        out.append(float((scores[keep] * (boxes[keep, 2] - boxes[keep, 0]) * sx).sum()))
    return out


def _centres_yx(detections: Sequence[Detection]) -> np.ndarray:
    return np.array([[(d.box[1] + d.box[3]) / 2, (d.box[0] + d.box[2]) / 2] for d in detections]).reshape(-1, 2)


def _in_plane(study: Study, detector: Detector, c1: np.ndarray, trusted: bool) -> tuple[Study, Alignment, list[Detection]]:
    """Steps 1-2 of the module docstring: the header placement, else the in-plane repair.
    Returns the placed study, its Alignment and the regions found on its T2's central slice."""
    normal = study.t1.slice_normal  # positions are compared within the sagittal plane
    # T2 is detected on its central slice only: the check costs one detector pass when the header holds
    d2h = detector.detect(study.t2, slab_mm=0.0).filter(ALIGN_THRESHOLD)
    n_h, med_h, ok_h = measure(c1, disc_centres(study.t1, d2h), plane_normal=normal)
    header = Alignment("header", (0.0, 0.0, 0.0), med_h, n_h, len(c1), ok_h and trusted, trusted, med_h, n_h)
    native = study.t2_native
    if (ok_h and trusted) or native is None or len(c1) < 2:
        return study, header, d2h
    c2n = disc_centres(native, detector.detect(native, slab_mm=0.0).filter(ALIGN_THRESHOLD))
    t, n_t = translation_from_centres(c1, c2n, keep_axis=normal)
    if n_t < 2:
        return study, header, d2h
    t2r = resample_to(_shifted(native, t), study.t1)
    d2m = detector.detect(t2r, slab_mm=0.0).filter(ALIGN_THRESHOLD)
    n_m, med_m, ok_m = measure(c1, disc_centres(study.t1, d2m), plane_normal=normal)
    repaired = Alignment("disc correspondence", tuple(float(v) for v in t), med_m, n_m, len(c1), ok_m, trusted, med_h, n_h)
    if ok_m or (not trusted) or (n_m, -(med_m or 1e9)) > (n_h, -(med_h or 1e9)):
        return dataclasses.replace(study, t2=t2r), repaired, d2m
    return study, header, d2h


def _through_plane(study: Study, placed: Study, al: Alignment, detector: Detector, c1: np.ndarray,
                   d2: list[Detection]) -> tuple[Study, Alignment, list[Detection], str | None]:
    """Step 3: the spine's midline on both multi-slice series, compared along the T1 slice normal
    (:func:`~modic_core.pairing.alignment.slab_centre`); T2 moved along the normal when more than
    half a slice off, re-measured. Returns the placement, its Alignment (``through_plane_*`` set),
    the T2 central-slice regions and a problem sentence (or None)."""
    native = study.t2_native
    if study.t1.shape[0] < 2 or native is None or native.shape[0] < 2:
        return placed, dataclasses.replace(al, through_plane_note=NOTE_SINGLE_SLICE), d2, None
    if shared_frame_of_reference(study) and al.method == "header" and al.ok:
        # One frame of reference: the scanner placed both series in one patient coordinate system
        # and the disc positions agree with it, so the two detector passes over every slice are skipped.
        return placed, dataclasses.replace(al, through_plane_note=NOTE_SHARED_FRAME), d2, None
    sz, normal = float(study.t1.spacing[0]), study.t1.slice_normal
    w1, w2 = slice_weights(study.t1, detector), slice_weights(placed.t2, detector)
    m1, m2 = slab_centre(w1), slab_centre(w2)
    if m1 is None or m2 is None or peak_at_edge(w1):  # not measurable (the in-plane check decides)
        return placed, dataclasses.replace(al, through_plane_note=NOTE_NO_MIDLINE), d2, None
    offset = (m1 - m2) * sz
    if peak_at_edge(w2, [bool(np.any(a)) for a in placed.t2.array]):
        al = dataclasses.replace(al, through_plane_mm=float(offset), through_plane_residual_mm=None)
        return placed, al, d2, (
            "The spine's midline could not be found on the T2 slices (the discs look widest on its outermost slice): "
            "the T2 series may not cover the midline of the T1, so T1 and T2 may show different planes.")
    residual = offset
    if abs(offset) > 0.5 * sz:
        t = np.asarray(al.translation_mm, float) + offset * normal
        t2r = resample_to(_shifted(native, t), study.t1)
        m2b = slab_centre(slice_weights(t2r, detector))
        moved_residual = None if m2b is None else (m1 - m2b) * sz
        if moved_residual is not None and abs(moved_residual) < abs(offset):
            residual = moved_residual
            d2 = detector.detect(t2r, slab_mm=0.0).filter(ALIGN_THRESHOLD)  # the in-plane measure, re-done
            n_m, med_m, ok_m = measure(c1, disc_centres(study.t1, d2), plane_normal=normal)
            placed = dataclasses.replace(placed, t2=t2r)
            al = dataclasses.replace(al, translation_mm=tuple(float(v) for v in t), residual_mm=med_m, discs_matched=n_m,
                                     ok=ok_m and al.ok)
    al = dataclasses.replace(al, through_plane_mm=float(offset), through_plane_residual_mm=float(residual))
    if abs(residual) <= 0.5 * sz:
        return placed, al, d2, None
    return placed, al, d2, (
        f"The T2 slices lie {abs(residual):.0f} mm off the T1 slices through the body (the spine's midline is on "
        f"other slices) and could not be brought within half a slice spacing ({0.5 * sz:.1f} mm): the two series "
        "show different planes.")


def content_problems(placed: Study, t1_detections: Sequence[Detection], t2_detections: Sequence[Detection]
                     ) -> tuple[list[str], float | None, float | None, float | None]:
    """The content checks of :mod:`modic_core.pairing.content` on the placed pair: (problem
    sentences, contrast score, similarity, flip gain). ``t2_detections``: regions found on the
    placed T2's central slice."""
    t1, t2 = placed.t1, placed.t2
    problems = []
    boxes, zs, post = [d.box for d in t1_detections], [d.z_center for d in t1_detections], posterior_sign(t1.direction)
    sim = similarity(t1.array, t2.array, boxes or None, zs, posterior=post)
    if sim is not None and sim > MAX_SIMILARITY:  # identical voxels are refused earlier (io.validation.check_pair)
        problems.append(f"The series given as T2 is (nearly) identical to the T1 series (correlation {sim:.3f}): "
                        "the same images seem to be given twice; please give the T2-weighted series as T2.")
    score, _ = contrast_score(t1.array, t2.array, boxes, zs, posterior=post)
    if not problems and score is not None and score < MIN_CONTRAST_SCORE:
        problems.append("The image contrast of the two series is the wrong way round (relative to the vertebral marrow, "
                        "discs and spinal fluid are darker on the series given as T2 than on the T1): T1 and T2 seem "
                        "swapped; please give the T1-weighted series as T1 and the T2-weighted series as T2.")
    mid = t1.shape[0] // 2
    gain = flip_gain(t1.array[mid], t2.array[mid], _centres_yx(t1_detections), _centres_yx(t2_detections))
    if gain is not None and gain > MAX_FLIP_GAIN:
        problems.append("The T2 images look upside down relative to their header (turned head to foot they match the "
                        "T1 better), so their position and the level correspondence cannot be trusted.")
    return problems, score, sim, gain


def check_alignment(study: Study, detector: Detector, *, t1_detections: Sequence[Detection] | None = None) -> tuple[Study, Alignment]:
    """Measure (and if needed repair) how the study's T2 lines up with its T1, then check the
    placed pair's content (module docstring).

    Returns the study to analyse (its ``t2`` re-resampled when a translation was applied) and the
    :class:`Alignment` (``ok`` False when any step fails; ``problems`` says why, beyond the
    in-plane rule). ``t1_detections``: the T1 regions at :data:`ALIGN_THRESHOLD`, if already known.
    """
    if t1_detections is None:
        t1_detections = detector.detect(study.t1).filter(ALIGN_THRESHOLD)
    c1 = disc_centres(study.t1, t1_detections)
    placed, al, d2 = _in_plane(study, detector, c1, header_trusted(study))
    placed, al, d2, tp_problem = _through_plane(study, placed, al, detector, c1, d2)
    problems, score, sim, gain = content_problems(placed, t1_detections, d2)
    if tp_problem:
        problems.insert(0, tp_problem)
    al = dataclasses.replace(al, contrast_score=score, similarity=sim, flip_gain=gain, problems=tuple(problems),
                             ok=al.ok and not problems, in_plane_ok=al.ok)
    return placed, al
