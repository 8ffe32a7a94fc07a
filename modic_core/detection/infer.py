"""Running the detector on a study, fusing slices, and thresholding without rerunning it.

3D rule: the detector runs on the central sagittal slices (those within ±``slab_mm``/2 of the
middle slice, at most 7). Boxes from all those slices are fused greedily (highest score first; a
box joins a cluster when its IoU with the cluster's running box is >= 0.5). A cluster's box is the
score-weighted mean of its members; its score is the sum of member scores divided by the number
of slices run (a region seen on one slice of five scores lower than one seen on all five). Its
slab -- the slices the classifier sees -- is the range of slices where members were found.
Single-slice studies reduce to the plain detector output. Each slice's boxes are first shrunk by
the inverse of the mean box inflation the detector learned from its rotation augmentation
(:mod:`.boxes`).

The confidence threshold is applied afterwards (:meth:`StudyDetections.filter`): changing it
never reruns the network. Level names are fixed once per study for every threshold, counted
up from the region the detector scores as L5-S1 (see :mod:`.levels`). A region's anchor score
(its L5-S1-class score) is fused across slices like its score.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
import time

import numpy as np
import torch

from modic_core import settings
from modic_core.boxes import box_iou
from modic_core.volume import Volume
from modic_core.detection.boxes import deinflate_boxes
from modic_core.detection.levels import LevelNaming, merge_classes, name_regions
from modic_core.detection.model import DetectorConfig, build_detector
from modic_core.detection.preprocess import to_detector_grid
from modic_core.schema import sha256_file

__all__ = ["Detection", "StudyDetections", "Detector", "load_detector"]



@dataclass(frozen=True)
class Detection:
    """One intervertebral region. ``box`` = (x0, y0, x1, y1) in T1 pixels (x = column, y = row);
    ``z_range`` = (first, last) slice index of its slab, inclusive."""

    box: tuple[float, float, float, float]
    score: float
    z_range: tuple[int, int]
    level: str = ""
    anchor: float = 0.0  # L5-S1-class score (0 for single-class weights)

    @property
    def z_center(self) -> int:
        return int(round((self.z_range[0] + self.z_range[1]) / 2))


@dataclass
class StudyDetections:
    """All fused candidate regions of a study (score >= ``min_score``), before thresholding."""

    candidates: list[Detection]
    slices_run: list[int]
    shape: tuple[int, int, int]
    seconds: float = 0.0
    anchored: bool = False  # the detector has an L5-S1 class: names count from its best region

    def naming(self) -> LevelNaming:
        """Level names of all candidates, fixed once for every threshold (:func:`~.levels.name_regions`)."""
        cached = getattr(self, "_naming", None)
        if cached is None:
            boxes = np.array([d.box for d in self.candidates], dtype=float).reshape(-1, 4)
            anchor = np.array([d.anchor for d in self.candidates], dtype=float) if self.anchored else None
            cached = name_regions(boxes, np.array([d.score for d in self.candidates], dtype=float), anchor=anchor)
            self._naming = cached
        return cached

    def kept(self, threshold: float) -> list[tuple[int, str]]:
        """(candidate index, level name) of the regions shown at ``threshold``, top to bottom: on the
        disc column, not duplicates, one region per name (the most confident)."""
        naming = self.naming()
        best: dict[str, int] = {}
        for i, d in enumerate(self.candidates):
            name = naming.name(i)
            if name is None or d.score < threshold:
                continue
            if name not in best or d.score > self.candidates[best[name]].score:
                best[name] = i
        order = sorted(best.items(), key=lambda kv: (self.candidates[kv[1]].box[1] + self.candidates[kv[1]].box[3]))
        return [(i, name) for name, i in order]

    def filter(self, threshold: float) -> list[Detection]:
        """Regions with score >= threshold, ordered top to bottom, with level names."""
        c = self.candidates
        return [Detection(c[i].box, c[i].score, c[i].z_range, name, c[i].anchor) for i, name in self.kept(threshold)]


def central_slices(n_slices: int, slice_spacing_mm: float, *, slab_mm: float = 12.0, max_slices: int = 7) -> list[int]:
    """Indices of the central sagittal slices within ±slab_mm/2 of the middle one."""
    mid = n_slices // 2
    half = int(np.floor((slab_mm / 2) / max(slice_spacing_mm, 1e-3)))
    half = min(half, max_slices // 2)
    return list(range(max(0, mid - half), min(n_slices, mid + half + 1)))


def fuse_slices(per_slice: dict[int, tuple[np.ndarray, ...]], *, iou: float = 0.5, min_score: float = 0.01) -> list[Detection]:
    """Greedy score-weighted fusion of boxes across slices (see module docstring).

    ``per_slice``: slice index -> (boxes (N, 4), scores (N,)[, anchor scores (N,)])."""
    items = []
    for z, t in per_slice.items():
        boxes, scores = t[0], t[1]
        anchors = t[2] if len(t) > 2 else np.zeros(len(scores))
        items += [(s, z, b, a) for b, s, a in zip(boxes, scores, anchors) if s >= min_score]
    items.sort(key=lambda t: -t[0])
    clusters: list[dict] = []
    for s, z, b, a in items:
        overlaps = (
            box_iou(np.asarray(b, float)[None], np.array([c["box"] for c in clusters]))[0].tolist()
            if clusters else []
        )
        for c, o in zip(clusters, overlaps):
            if z not in c["z"] and o >= iou:
                c["w"].append(s)
                c["boxes"].append(b)
                c["z"].append(z)
                c["a"].append(a)
                c["box"] = np.average(np.array(c["boxes"]), axis=0, weights=np.array(c["w"]))
                break
        else:
            clusters.append({"box": np.asarray(b, float), "boxes": [b], "w": [s], "z": [z], "a": [a]})
    n = max(1, len(per_slice))
    out = [
        Detection(tuple(float(v) for v in c["box"]), float(sum(c["w"]) / n), (int(min(c["z"])), int(max(c["z"]))),
                  anchor=float(sum(c["a"]) / n))
        for c in clusters
    ]
    return sorted(out, key=lambda d: -d.score)


class Detector:
    """A loaded detector; thread-safe inference on the CPU or the GPU."""

    def __init__(self, model: torch.nn.Module, *, config: DetectorConfig, device: str, source: str, sha256: str = "") -> None:
        self.model = model
        self.config = config
        self.device = device
        self.source = source
        self.sha256 = sha256
        self._lock = threading.Lock()

    @property
    def anchored(self) -> bool:
        """Whether the weights have the L5-S1 (anchor) class."""
        return self.config.num_classes >= 3

    def detect_slices(self, volume: Volume, slices: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Boxes (T1 pixels), region scores and anchor scores per slice index, all slices in one
        batch; one region per location (:func:`~.levels.merge_classes`)."""
        return self.detect_many([(volume, slices)])[0]

    @torch.inference_mode()
    def detect_many(self, items: list[tuple[Volume, list[int]]]) -> list[dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Like :meth:`detect_slices` for several volumes, one network pass per image size.

        torchvision's detector pads the images of a batch to a common size, and padding changes
        the detections (boxes move, levels appear or vanish). So only slices of the same size
        share a pass: every slice is then detected exactly as when its study runs alone, and
        the batch size never changes the results.
        """
        imgs, scales, keys = [], [], []
        for k, (volume, slices) in enumerate(items):
            for z in slices:
                t, sc = to_detector_grid(volume.array[z], volume.spacing[1:])
                imgs.append(t)
                scales.append(sc)
                keys.append((k, z))
        out: list[dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]] = [{} for _ in items]
        for (k, z), r in zip(keys, self.detect_grid(imgs, scales)):
            out[k][z] = r
        return out

    @torch.inference_mode()
    def detect_grid(self, images: list[torch.Tensor], scales: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Regions of slices already on the detector grid (:func:`~.preprocess.to_detector_grid`):
        (boxes (N, 4) in original pixels, region scores, anchor scores) per image.

        Per image: network boxes, de-inflated on the (isotropic) grid (:func:`~.boxes.deinflate_boxes`;
        ``boxes.TRAIN_ROTATION_DEG`` = 0 turns it off), mapped back by ``scale`` (sy, sx), one region per location
        (:func:`~.levels.merge_classes`). Same-size images share a pass (see :meth:`detect_many`)."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, t in enumerate(images):
            groups.setdefault(tuple(t.shape), []).append(i)
        results: list[dict] = [{} for _ in images]
        with self._lock:
            for idx in groups.values():
                for i, r in zip(idx, self.model([images[i].to(self.device) for i in idx])):
                    results[i] = r
        out = []
        for r, sc in zip(results, scales):
            b = r["boxes"].float().cpu().numpy().astype(float)
            b = deinflate_boxes(b)
            b[:, [0, 2]] /= sc[1]
            b[:, [1, 3]] /= sc[0]
            labels = r["labels"].cpu().numpy() if self.anchored else None
            out.append(merge_classes(b, r["scores"].float().cpu().numpy().astype(float), labels))
        return out

    def detect(self, volume: Volume, *, slab_mm: float = 12.0) -> StudyDetections:
        """Fused candidate regions of a (z, y, x) volume; see the module docstring for the rule."""
        t0 = time.perf_counter()
        slices = central_slices(volume.shape[0], volume.spacing[0], slab_mm=slab_mm)
        per = self.detect_slices(volume, slices)
        return StudyDetections(fuse_slices(per), slices, volume.shape, time.perf_counter() - t0, anchored=self.anchored)

    def detect_batch(self, volumes: list[Volume], *, slab_mm: float = 12.0) -> list[StudyDetections]:
        """:meth:`detect` for several volumes with one network pass; ``seconds`` is the per-volume share."""
        t0 = time.perf_counter()
        slices = [central_slices(v.shape[0], v.spacing[0], slab_mm=slab_mm) for v in volumes]
        per = self.detect_many(list(zip(volumes, slices)))
        dt = (time.perf_counter() - t0) / max(1, len(volumes))
        return [StudyDetections(fuse_slices(p), sl, v.shape, dt, anchored=self.anchored) for v, sl, p in zip(volumes, slices, per)]


def pick_device() -> str:
    """The inference device (:func:`modic_core.settings.device`)."""
    return settings.device()


@functools.lru_cache(maxsize=4)
def load_detector(path: str | Path | None = None, *, device: str | None = None) -> Detector:
    """Load the shipped (or given) detector once per process."""
    path = Path(path) if path else settings.weights_dir() / "detector.pt"
    device = device or pick_device()
    payload = torch.load(path, map_location="cpu", weights_only=True)
    cfg = DetectorConfig.from_dict(payload["config"])
    model = build_detector(config=cfg)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    model.eval().to(device)
    return Detector(model, config=cfg, device=device, source=str(path.name), sha256=sha256_file(path))
