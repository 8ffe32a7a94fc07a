"""The T1/T2 alignment check of a study, run with the disc detector on each sequence.

1. T2 as placed by its header (resampled onto the T1 grid): discs found on T1 and on that T2 are
   matched (:func:`modic_core.pairing.alignment.measure`).
2. If that fails, or the headers do not share a frame of reference, the discs found on the native
   T2 give a translation onto the T1 discs (:func:`~modic_core.pairing.alignment.translation_from_centres`);
   the T2 is moved, resampled again and measured again. The better of the two placements is kept.

Cost: one detector pass over the T2's central slice when the header placement holds (T1 regions
come from the analysis), three when T2 must be moved. Positions are compared within the sagittal
plane (the through-plane offset of a disc centre is not measurable on a few slices); the repair
translates T2 within that plane only.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from modic_core.detection.infer import Detection, Detector
from modic_core.pairing.alignment import Alignment, measure, translation_from_centres
from modic_core.pairing.study import resample_to
from modic_core.volume import Study, Volume

__all__ = ["ALIGN_THRESHOLD", "check_alignment", "disc_centres", "header_trusted"]

#: Detector confidence of the discs used for the check (independent of the user's slider).
ALIGN_THRESHOLD = 0.5


def disc_centres(volume: Volume, detections: Sequence[Detection]) -> np.ndarray:
    """(N, 3) LPS mm centres (x, y, z) of detected regions on ``volume``'s grid."""
    if not detections:
        return np.zeros((0, 3))
    zyx = np.array([[d.z_center, (d.box[1] + d.box[3]) / 2, (d.box[0] + d.box[2]) / 2] for d in detections])
    return volume.index_to_physical(zyx)


def header_trusted(study: Study) -> bool:
    """True unless both series record a frame of reference and they differ."""
    f1 = study.t1.meta.frame_of_reference_uid
    f2 = (study.t2_native or study.t2).meta.frame_of_reference_uid
    return not (f1 and f2 and f1 != f2)


def _shifted(volume: Volume, t: np.ndarray) -> Volume:
    return Volume(volume.array, volume.spacing, tuple(np.asarray(volume.origin) + t), volume.direction.copy(), volume.meta)


def check_alignment(study: Study, detector: Detector, *, t1_detections: Sequence[Detection] | None = None) -> tuple[Study, Alignment]:
    """Measure (and if needed repair) how the study's T2 lines up with its T1.

    Returns the study to analyse (its ``t2`` re-resampled when a translation was applied) and the
    :class:`Alignment`. ``t1_detections``: the T1 regions at :data:`ALIGN_THRESHOLD`, if already known.
    """
    if t1_detections is None:
        t1_detections = detector.detect(study.t1).filter(ALIGN_THRESHOLD)
    c1 = disc_centres(study.t1, t1_detections)
    trusted = header_trusted(study)
    normal = study.t1.slice_normal  # positions are compared within the sagittal plane
    # T2 is detected on its central slice only: the check costs one detector pass when the header holds
    c2h = disc_centres(study.t1, detector.detect(study.t2, slab_mm=0.0).filter(ALIGN_THRESHOLD))
    n_h, med_h, ok_h = measure(c1, c2h, plane_normal=normal)
    header = Alignment("header", (0.0, 0.0, 0.0), med_h, n_h, len(c1), ok_h and trusted, trusted, med_h, n_h)
    native = study.t2_native
    if (ok_h and trusted) or native is None or len(c1) < 2:
        return study, header
    c2n = disc_centres(native, detector.detect(native, slab_mm=0.0).filter(ALIGN_THRESHOLD))
    t, n_t = translation_from_centres(c1, c2n, keep_axis=normal)
    if n_t < 2:
        return study, header
    moved = _shifted(native, t)
    t2r = resample_to(moved, study.t1)
    c2m = disc_centres(study.t1, detector.detect(t2r, slab_mm=0.0).filter(ALIGN_THRESHOLD))
    n_m, med_m, ok_m = measure(c1, c2m, plane_normal=normal)
    repaired = Alignment("disc correspondence", tuple(float(v) for v in t), med_m, n_m, len(c1), ok_m, trusted, med_h, n_h)
    if ok_m or (not trusted) or (n_m, -(med_m or 1e9)) > (n_h, -(med_h or 1e9)):
        return dataclasses.replace(study, t2=t2r), repaired
    return study, header
