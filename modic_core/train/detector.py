"""Train the intervertebral-region detector on a cohort's boxed studies.

Reproduce the shipped weights (CPU, about an hour on 2 cores)::

    python -m modic_core.train.detector --cohort PATH/TO/spider2d --cv 5 --out weights

This runs patient-level 5-fold cross-validation (predictions of each held-out fold are saved),
and trains the shipped model on all boxed studies (first) and writes ``weights/detector.pt`` and
``weights/detector.json`` (a :class:`modic_core.schema.DetectorCard`: command, data, the training
config, sha256, cross-validated metrics). Hyperparameters and the CLI's defaults:
:class:`modic_core.schema.DetectorTrainingConfig`.
Every run checkpoints each epoch under ``runs/detector/`` and resumes from there.
Both the T1 slice and the T2 slice (resampled onto T1) of each study are training images.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
import json

import numpy as np
import torch
from tqdm import tqdm

from modic_core.detection.boxes import TRAIN_ROTATION_DEG
from modic_core.detection.model import build_detector
from modic_core.schema import DetectionCV, DetectorCard, DetectorData, DetectorTrainingConfig, write_json_atomic
from modic_core.train.common import detector_arch, atomic_torch_save, patient_folds, seed_everything, set_threads, sha256_file
from modic_core.train.detection_cv import summarize_detector_cv
from modic_core.train.detector_samples import DetectorSample, load_detector_samples, region_class  # also re-exported (__all__)

from modic_core import settings
from modic_core.logs import configure_logging, get_logger
from modic_core.datasets.cohort import iter_cohort

__all__ = ["DetectorSample", "region_class", "load_detector_samples", "train_detector", "main"]

LOGGER = get_logger(__name__)


def _random_affine(img: torch.Tensor, boxes: torch.Tensor, rng: np.random.Generator):
    """Rotation ±5°, isotropic scale 0.85-1.15, shift ±5 %, horizontal flip p=0.5, about the centre.

    One ``grid_sample`` for the whole transform (not torchvision's v2.RandomAffine). Boxes are the
    bounding boxes of their transformed corners, clipped to the image; boxes left under 4 px go.
    Returns (image (rows, cols), boxes (N, 4), boolean mask of the input boxes kept).
    """
    _, H, W = img.shape
    ang = np.deg2rad(rng.uniform(-TRAIN_ROTATION_DEG, TRAIN_ROTATION_DEG))  # inference undoes its box inflation
    sc = rng.uniform(0.85, 1.15)
    tx, ty = rng.uniform(-0.05, 0.05) * W, rng.uniform(-0.05, 0.05) * H
    flip = rng.random() < 0.5
    cx, cy = (W - 1) / 2, (H - 1) / 2
    c, s_ = np.cos(ang) * sc, np.sin(ang) * sc
    # forward map (output = A @ (input - centre) + centre + t), in pixel units
    A = np.array([[c, -s_], [s_, c]])
    if flip:
        A = A @ np.diag([-1.0, 1.0])
    Ainv = np.linalg.inv(A)
    # grid_sample needs output->input in normalized coords [-1, 1]
    Sx, Sy = (W - 1) / 2, (H - 1) / 2
    N = np.diag([1 / Sx, 1 / Sy])
    M = N @ Ainv @ np.linalg.inv(N)
    tn = -M @ np.array([tx / Sx, ty / Sy])
    theta = torch.tensor(np.hstack([M, tn[:, None]])[None], dtype=torch.float32)
    grid = torch.nn.functional.affine_grid(theta, [1, 1, H, W], align_corners=True)
    out = torch.nn.functional.grid_sample(img[None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0, 0]
    b = boxes.numpy().astype(np.float64)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1)  # (N, 4, 2)
    pts = (corners - [cx, cy]) @ A.T + [cx + tx, cy + ty]
    nb = np.concatenate([pts.min(1), pts.max(1)], axis=1)
    nb[:, [0, 2]] = nb[:, [0, 2]].clip(0, W - 1)
    nb[:, [1, 3]] = nb[:, [1, 3]].clip(0, H - 1)
    keep = ((nb[:, 2] - nb[:, 0]) >= 4) & ((nb[:, 3] - nb[:, 1]) >= 4)
    return out, torch.from_numpy(nb[keep]), keep


def _augment(img: torch.Tensor, boxes: torch.Tensor, rng: np.random.Generator, *, labels: torch.Tensor | None = None):
    """Geometric (affine: rotation ±5°, scale 0.85-1.15, shift ±5 %, flip) and MRI intensity
    augmentation. Returns (image (1, rows, cols), boxes (N, 4), class labels (N,) of the boxes kept)."""
    if labels is None:
        labels = torch.ones(len(boxes), dtype=torch.int64)
    x, bx, kept = _random_affine(img, boxes, rng)
    lb = labels[torch.from_numpy(kept)]
    # MRI intensity augmentation written in torch on the 2D slice rather than with torchio's
    # RandomBiasField (a 3D Subject per slice).
    if rng.random() < 0.5:  # smooth multiplicative bias field from a 4x4 log-field
        coarse = torch.from_numpy(rng.normal(0.0, 0.15, size=(1, 1, 4, 4)).astype(np.float32))
        field = torch.nn.functional.interpolate(coarse, size=x.shape, mode="bicubic", align_corners=True)[0, 0]
        x = x * torch.exp(field)
    if rng.random() < 0.7:  # gamma
        x = torch.clamp(x, 0.0, None) ** float(np.exp(rng.uniform(-0.4, 0.4)))
    if rng.random() < 0.5:  # Gaussian noise
        x = x + torch.randn(x.shape, generator=torch.Generator().manual_seed(int(rng.integers(1 << 31)))) * float(rng.uniform(0, 0.04))
    # contrast / brightness jitter, then back into [0, 1]
    a = float(rng.uniform(0.8, 1.2))
    b = float(rng.uniform(-0.1, 0.1))
    x = torch.clamp(x * a + b, 0.0, 1.0)
    return x[None].float(), bx.float(), lb


def train_detector(
    samples: list[DetectorSample],
    *,
    cfg: DetectorTrainingConfig,
    run_dir: Path,
    seed: int,
    desc: str = "train",
) -> torch.nn.Module:
    """Train (or resume) a detector with the hyperparameters of ``cfg`` and the seed ``seed``
    (per fold); checkpoints every epoch in ``run_dir/ckpt.pt``."""
    seed_everything(seed)
    arch = detector_arch(cfg)
    epochs, batch_size = cfg.epochs, cfg.batch_size
    model = build_detector(config=arch)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(samples) / batch_size)
    total = epochs * steps_per_epoch
    warm = min(cfg.warmup_steps, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, warm)) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total))))
    )
    start = 0
    ckpt = run_dir / "ckpt.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = state["epoch"]
        np_state = state["rng"]
    else:
        np_state = None
    rng = np.random.default_rng(seed)
    if np_state is not None:
        rng.bit_generator.state = np_state
        torch.set_rng_state(state["torch_rng"])
    model.train()
    for epoch in range(start, epochs):
        order = rng.permutation(len(samples))
        losses = []
        bar = tqdm(range(0, len(order), batch_size), desc=f"{desc} epoch {epoch + 1}/{epochs}", file=sys.stderr, leave=False)
        for i in bar:
            imgs, targets = [], []
            for j in order[i : i + batch_size]:
                s = samples[j]
                im, bx, lb = _augment(s.image, s.boxes, rng, labels=s.labels)
                imgs.append(im)
                targets.append({"boxes": bx, "labels": lb})
            loss_dict = model(imgs, targets)
            loss = sum(loss_dict.values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            losses.append(float(loss))
            bar.set_postfix(loss=f"{np.mean(losses):.3f}")
        LOGGER.info("[%s] epoch %d/%d loss %.4f", desc, epoch + 1, epochs, np.mean(losses))
        atomic_torch_save(
            {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch + 1,
             "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "config": arch.to_dict()},
            ckpt,
        )
    model.eval()
    return model


@torch.inference_mode()
def predict_samples(model: torch.nn.Module, samples: list[DetectorSample]) -> list[dict]:
    """Raw predictions (all scores >= 0.01) in T1 pixel coordinates, one dict per sample."""
    model.eval()
    out = []
    for s in samples:
        res = model([s.image])[0]
        boxes = res["boxes"].numpy().astype(float)
        labels = res["labels"].numpy().astype(int)
        boxes[:, [0, 2]] /= s.scale[1]
        boxes[:, [1, 3]] /= s.scale[0]
        gt = s.boxes.numpy().astype(float).copy()
        gt[:, [0, 2]] /= s.scale[1]
        gt[:, [1, 3]] /= s.scale[0]
        out.append({
            "study_id": s.study_id, "sequence": s.sequence,
            "boxes": boxes.round(2).tolist(), "scores": res["scores"].numpy().round(4).tolist(),
            "labels": labels.tolist(),
            "gt_boxes": gt.round(2).tolist(), "gt_levels": s.levels,
        })
    return out


def export_weights(model: torch.nn.Module, config, path: Path) -> None:
    """Half-precision state_dict plus the config (small file; loaded back as float32)."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    atomic_torch_save({"state_dict": sd, "config": config.to_dict(), "format": "modic-detector-v1"}, path)


def rescore(out: Path, argv: list[str]) -> int:
    """Re-score the saved held-out predictions with today's region filtering and level naming."""

    preds = json.loads((out / "detector_cv_predictions.json").read_text())
    card = DetectorCard.load(out / "detector.json")
    card = card.replace(cross_validation=DetectionCV.from_dict(summarize_detector_cv(preds)),
                      rescored_by="python -m modic_core.train.detector " + " ".join(argv))
    card.save(out / "detector.json")
    print(f"re-scored {len(preds)} held-out predictions into {out / 'detector.json'}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = DetectorTrainingConfig()
    ap.add_argument("--cohort", required=True, help="cohort folder (studies.csv + levels.csv) or a SPIDER release root")
    ap.add_argument("--out", default="weights")
    ap.add_argument("--runs", default="runs/detector")
    ap.add_argument("--epochs", type=int, default=d.epochs)
    ap.add_argument("--cv", type=int, default=d.n_folds, help="number of CV folds (0 = skip cross-validation)")
    ap.add_argument("--folds", default="", help="comma list of folds to run (default all)")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--skip-final", action="store_true")
    ap.add_argument("--limit", type=int, default=0, help="use only N boxed studies (smoke tests)")
    ap.add_argument("--rescore", action="store_true",
                    help="only re-score the saved CV predictions (OUT/detector_cv_predictions.json) with the current "
                         "naming and filtering rules and update OUT/detector.json; no training")
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    if args.rescore:
        return rescore(Path(args.out), argv if argv is not None else sys.argv[1:])
    set_threads()
    studies = [s for s in iter_cohort(args.cohort) if s.has_boxes]
    if args.limit:
        studies = studies[: args.limit]
    LOGGER.info("%d studies with boxes", len(studies))
    samples = load_detector_samples(studies)
    runs = Path(args.runs)
    out = Path(args.out)
    cfg = d.replace(epochs=args.epochs, seed=args.seed, n_folds=args.cv)
    cfg = cfg.replace(model=detector_arch(cfg).to_dict())
    folds = patient_folds([s.study_id for s in studies], n_folds=cfg.n_folds, seed=cfg.seed) if cfg.n_folds else []
    command = "python -m modic_core.train.detector " + " ".join(argv if argv is not None else sys.argv[1:])
    wpath = out / "detector.pt"

    def write_report(cv_preds: list[dict], pending: bool) -> None:
        DetectorCard(
            command=command,
            data=DetectorData(cohort=str(args.cohort), n_studies=len(studies),
                              images="mid-sagittal T1 slice and T2 slice (resampled onto T1) per study",
                              study_ids=sorted(s.study_id for s in studies)),
            config=cfg,
            weights=wpath.name, sha256=sha256_file(wpath), size_bytes=wpath.stat().st_size,
            cross_validation=DetectionCV.from_dict(summarize_detector_cv(cv_preds)) if cv_preds else None,
            cross_validation_status="pending" if pending else f"{len(folds)}-fold patient-level, complete",
            folds=folds,
        ).save(out / "detector.json")

    # 1. the shipped model, trained on every boxed study (first, so later stages can use it)
    if not args.skip_final:
        if not wpath.exists() or not (runs / "final" / "done").exists():
            model = train_detector(samples, cfg=cfg, run_dir=runs / "final", seed=cfg.seed, desc="final")
            export_weights(model, detector_arch(cfg), wpath)
            (runs / "final" / "done").write_text("ok")
            write_report([], pending=bool(folds))
            print("wrote", wpath, flush=True)
    # 2. patient-level cross-validation of the same recipe
    cv_preds: list[dict] = []
    wanted = {int(f) for f in args.folds.split(",") if f} or set(range(len(folds)))
    for k, fold in enumerate(folds):
        if k not in wanted:
            continue
        test_ids = set(fold)
        tr = [s for s in samples if s.study_id not in test_ids]
        te = [s for s in samples if s.study_id in test_ids]
        pred_path = runs / f"fold{k}" / "predictions.json"
        if pred_path.exists():
            preds = json.loads(pred_path.read_text())
        else:
            model = train_detector(tr, cfg=cfg, run_dir=runs / f"fold{k}", seed=cfg.seed + 1 + k, desc=f"fold {k}")
            preds = predict_samples(model, te)
            for p in preds:
                p["fold"] = k
            write_json_atomic(preds, pred_path)
        cv_preds.extend(preds)
    if cv_preds:
        write_json_atomic(cv_preds, out / "detector_cv_predictions.json")
        if wpath.exists():
            write_report(cv_preds, pending=len(wanted) < len(folds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
