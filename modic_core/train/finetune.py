"""Fine-tune the classifier on the label store's reviewed levels and register the result as a model version.

    python -m modic_core.train finetune --db URL --out DIR [--method zscore] [--name NAME] [--cohort PATH]
                                        [--epochs N] [--seed 0] [--activate]

Contract (fixed in advance; docs/labels.md "From corrections to a model version"):

- **Training levels**: the store's "train" part (:mod:`modic_core.labels.split`). A level's label is the
  reviewers' latest grades when they all agree on MC0, MC1 or MC2; disagreements, MC3 and not_gradable levels
  are left out and counted (:class:`~modic_core.schema.LevelCounts`). Region: the latest review's box if one was given, else the
  analysis's box and z range, else the detector's box for that level name (as the shipped recipe does for
  discs without a box), else the level is left out ("no region"). Name: the corrected name if given.
  Crops come from the stored .mha pair with the crop and normalization of the base classifier of ``--method``.
- **Start**: the active version's weights folder (``store.active_model().weights_dir``), else the shipped
  one (:func:`modic_core.settings.weights_dir`). Fine-tuning: AdamW at :data:`LR_FACTOR` x the recipe's
  learning rate, constant, with the recipe's augmentations; seeds fixed per epoch. ``--cohort`` (the shipped
  training data) mixes its discs into every epoch against forgetting.
- **Judged** on the store's "locked" part (never trained on): current vs new, MC0-vs-MC2 and 3-class balanced
  accuracy, per-class sensitivities, 95 % CIs by study bootstrap, and the paired difference. Fewer than
  :data:`MIN_LOCKED_LEVELS` MC0/MC2 locked levels, fewer than 2 locked studies, or MC0 or MC2 absent:
  "not enough locked levels" and no number.
- **Decision**: "rejected" when the new model's locked MC0-vs-MC2 balanced accuracy is below the current's, or
  the locked part is too small to tell; else "candidate", made active only with ``--activate``.
- **Output**: ``DIR`` is a complete weights folder (the base folder's files, the new ``classifier_<method>.pt``
  and its card, plus ``finetune.json``), written in ``DIR.partial/`` and renamed when complete; then the
  version is registered. ``DIR.partial/progress.json`` = ``{"stage", "fraction", "message"}`` while running.
  A checkpoint per epoch makes a rerun of the same command resume; a killed run registers nothing.
- Exit 2 with one sentence on bad input (no reviewed levels, unknown method, DIR not a partial of this run).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from modic_core import settings
from modic_core.classification.augment import paint_mc1
from modic_core.classification.crops import CropSpec
from modic_core.classification.model import ClassifierConfig, build_classifier
from modic_core.detection import load_detector
from modic_core.errors import InputError
from modic_core.evaluation.metrics import classification_report, paired_bootstrap
from modic_core.evaluation.site_summary import estimate_text
from modic_core.labels.store import open_store
from modic_core.labels.models import GRADES
from modic_core.labels.store import LabelStore
from modic_core.logs import configure_logging, get_logger
from modic_core.normalization.methods import NORMALIZATIONS
from modic_core.schema import (ClassifierCard, ClassifierData, ClassifierTrainingConfig, FinetuneBase, FinetuneData,
                               FinetuneMetrics, FinetuneRecord, LevelCounts, LockedMetrics, ModelScores, VersionMetrics,
                               write_json_atomic)
from modic_core.train.classifier import (DiscRecord, NormCache, StudyData, _tensors, build_crops, export_classifier,
                                         intensity_augmented, predict, prepare_cohort)
from modic_core.train.common import atomic_torch_save, seed_everything, set_threads, sha256_file
from modic_core.volume import Volume

__all__ = ["LR_FACTOR", "MIN_LOCKED_LEVELS", "LockedEvaluation", "evaluate", "level_labels",
           "load_network", "main", "store_studies"]

LOGGER = get_logger(__name__)

#: Fine-tuning learning rate = this x the recipe's (``ClassifierTrainingConfig.lr``), constant.
LR_FACTOR = 0.1
#: Default fine-tuning epochs.
DEFAULT_EPOCHS = 5
#: The locked part is "too small to tell" below this many MC0/MC2 levels (or < 2 studies, or MC0 or MC2 absent).
MIN_LOCKED_LEVELS = 10
#: Bootstrap resamples of the locked-part CIs.
N_BOOT = 1000
CHECKPOINT = "checkpoint.pt"
PROGRESS = "progress.json"
RUN_FILE = "run.json"
RECORD = "finetune.json"


@dataclass
class LockedEvaluation:
    """Current vs new on the locked part: ``enough`` False -> ``reason`` and no numbers."""

    enough: bool
    n_levels: int
    n_studies: int
    reason: str = ""
    current: dict = field(default_factory=dict)
    new: dict = field(default_factory=dict)
    paired: dict = field(default_factory=dict)

    def to_record(self) -> LockedMetrics:
        """The typed record written into ``finetune.json`` and the registered metrics (scores ``{}`` when not enough)."""
        return LockedMetrics(enough=self.enough, reason=self.reason, n_levels=self.n_levels, n_studies=self.n_studies,
                             current=self.current, new=self.new, paired_new_minus_current=self.paired)


def _read_volume(path: Path) -> Volume:
    return Volume.from_sitk(sitk.ReadImage(str(path)))


def _detector_regions(study: StudyData) -> dict[str, tuple[tuple, int]]:
    """Level name -> (box, centre slice) by the detector at 0.5 on the stored T1."""
    det = load_detector().detect(study.t1)
    return {d.level: (tuple(float(v) for v in d.box), int(d.z_center)) for d in det.filter(0.5)}


def level_labels(store: LabelStore, study_id: str, *, t1: Volume | None = None,
                 detect=None) -> tuple[list[DiscRecord], Counter]:
    """The study's trainable levels (see the module: agreement, region, name) and the counts left out.

    ``t1`` gives the centre slice when no z range is known; ``detect`` (a callable returning
    :func:`_detector_regions`' mapping, called at most once) finds boxes the reviews and analyses lack."""
    counts: Counter = Counter()
    by_level: dict[str, list] = {}
    for r in store.latest_reviews(study_id):
        by_level.setdefault(r.level, []).append(r)
    analysed: dict[str, dict] = {}
    for an in store.analyses(study_id):
        for lv in an.levels:
            analysed[lv.get("level")] = lv
    zc = 0 if t1 is None else t1.shape[0] // 2
    found = None
    out = []
    for level, reviews in by_level.items():
        grades = {r.grade for r in reviews}
        if len(grades) > 1:
            counts["disagreement"] += 1
            continue
        grade = grades.pop()
        if grade == "MC3":
            counts["mc3"] += 1
            continue
        if grade == "not_gradable" or grade not in GRADES:
            counts["not_gradable"] += 1
            continue
        name = next((r.corrected_level for r in sorted(reviews, key=lambda r: r.created_at, reverse=True)
                     if r.corrected_level), None) or level
        boxed = [r for r in reviews if r.box is not None]
        an = analysed.get(level, {})
        zr = an.get("z_range") or []
        z = int(round(sum(zr) / 2)) if len(zr) == 2 else zc
        if boxed:
            box, source = max(boxed, key=lambda r: r.created_at).box, "reviewer"
        elif an.get("box"):
            box, source = tuple(float(v) for v in an["box"]), "analysis"
        else:
            if found is None:
                found = detect() if detect is not None else {}
            if name not in found and level not in found:
                counts["no_region"] += 1
                continue
            box, z = found.get(name) or found[level]
            source = "detector"
        out.append(DiscRecord(study_id, name, int(grade[2:]), tuple(box), int(z), source))
        counts["used"] += 1
    return out, counts


def store_studies(store: LabelStore, *, split: str) -> tuple[list[StudyData], LevelCounts]:
    """Every stored study of ``split`` ("train" / "locked") with its trainable levels, loaded from the store's copies."""
    total: Counter = Counter()
    studies = []
    for st in store.list_studies():
        if st.split != split or not store.latest_reviews(st.id):
            continue
        paths = store.image_paths(st.id)
        sd = StudyData(st.id, _read_volume(paths["t1"]), _read_volume(paths["t2"]), "", None)
        sd.discs, counts = level_labels(store, st.id, t1=sd.t1, detect=lambda sd=sd: _detector_regions(sd))
        total.update(counts)
        if sd.discs:
            studies.append(sd)
    return studies, LevelCounts(**{k: int(total.get(k, 0)) for k in ("used", "disagreement", "mc3", "not_gradable",
                                                                       "no_region")}, studies=len(studies))


def load_network(weights_dir: Path, method: str):
    """(model in eval mode, CropSpec, landmarks, payload) of ``weights_dir/classifier_<method>.pt``."""
    payload = torch.load(Path(weights_dir) / f"classifier_{method}.pt", map_location="cpu", weights_only=True)
    model = build_classifier(config=ClassifierConfig.from_dict(payload["config"]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    lm = payload.get("landmarks")
    landmarks = {k: np.asarray(v, dtype=np.float64) for k, v in lm.items()} if lm else None
    return model.eval(), CropSpec(**payload["crop"]), landmarks, payload


def _report(y, proba, ids) -> dict:
    rep = classification_report(y, proba.argmax(1), proba=proba, patient_ids=ids, n_boot=N_BOOT, seed=0)
    return {"mc0_vs_mc2": rep.mc0_vs_mc2.to_dict(), "balanced_accuracy": rep.balanced_accuracy.to_dict(),
            "sensitivity": {c: s.sensitivity.to_dict() for c, s in rep.per_class.items()},
            "n_levels": rep.n_discs, "n_studies": rep.n_patients, "confusion_matrix": rep.confusion_matrix}


def evaluate(current_proba: np.ndarray, new_proba: np.ndarray, y: np.ndarray, ids: list[str]) -> LockedEvaluation:
    """Current vs new on the same levels (labels ``y`` 0/1/2, study ``ids``), with the minimum size rule."""
    y = np.asarray(y, dtype=int)
    n02 = int(np.isin(y, (0, 2)).sum())
    n_studies = len(set(ids))
    ev = LockedEvaluation(enough=True, n_levels=len(y), n_studies=n_studies)
    if n02 < MIN_LOCKED_LEVELS or n_studies < 2 or not (y == 0).any() or not (y == 2).any():
        ev.enough = False
        ev.reason = (f"not enough locked levels: {n02} MC0/MC2 levels of {n_studies} studies (needs at least "
                     f"{MIN_LOCKED_LEVELS} levels of 2 studies, with both MC0 and MC2)")
        return ev
    ev.current, ev.new = _report(y, current_proba, ids), _report(y, new_proba, ids)
    for metric in ("mc0_vs_mc2_balanced_accuracy", "balanced_accuracy"):
        d = paired_bootstrap(y, new_proba.argmax(1), current_proba.argmax(1), ids, metric=metric,
                             proba_a=new_proba, proba_b=current_proba, n_boot=N_BOOT, seed=0)
        ev.paired[metric] = d.to_dict()
    return ev


def decide(ev: LockedEvaluation) -> str:
    """The fixed rule: "rejected" if too small to tell or new MC0-vs-MC2 below current's, else "candidate"."""
    if not ev.enough:
        return "rejected"
    return "rejected" if ev.new["mc0_vs_mc2"]["value"] < ev.current["mc0_vs_mc2"]["value"] else "candidate"


def _progress(part: Path, stage: str, fraction: float, message: str) -> None:
    write_json_atomic({"stage": stage, "fraction": round(float(fraction), 4), "message": message}, part / PROGRESS)


def _epoch_tensors(items, spec: CropSpec, cfg: ClassifierTrainingConfig, method: str, landmarks, rng):
    if cfg.intensity_aug:
        items = intensity_augmented(items, method=method, landmarks=landmarks, share=cfg.intensity_aug, rng=rng)
    x, y, hh, hw = _tensors(items, spec, rng, geometry=True, jitter_mm=cfg.jitter_mm)
    if cfg.synthetic_mc1 > 0:
        sel = np.where((y == 0).numpy() & (rng.random(len(y)) < cfg.synthetic_mc1))[0]
        if len(sel):
            x[sel] = paint_mc1(x[sel], hh[sel], hw[sel], rng, pixel_mm=spec.pixel_mm)
            y[sel] = 1
    flip = torch.from_numpy(rng.random(len(x)) < cfg.flip_p)
    x[flip] = x[flip].flip(-1)
    return x, y


def _class_weights(items, cfg: ClassifierTrainingConfig) -> torch.Tensor:
    counts = np.bincount([d.modic for sd, _, _ in items for d in sd.discs], minlength=3).astype(float)
    counts[1] += cfg.synthetic_mc1 * counts[0]
    counts[0] -= cfg.synthetic_mc1 * counts[0]
    w = np.where(counts > 0, counts.sum() / (3 * np.maximum(counts, 1)), 0.0).clip(0, cfg.class_weight_cap)
    return torch.tensor(w, dtype=torch.float32)


def finetune_model(model, items, *, cfg: ClassifierTrainingConfig, spec: CropSpec, method: str, landmarks,
                   epochs: int, seed: int, part: Path, run_key: str) -> torch.nn.Module:
    """Fine-tune ``model`` in place for ``epochs`` epochs, a checkpoint in ``part`` after each (resumed when its
    ``run_key`` matches). Epoch ``e`` draws its augmentations from ``default_rng([seed, e])``."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr * LR_FACTOR, weight_decay=cfg.weight_decay)
    start = 0
    ck = part / CHECKPOINT
    if ck.is_file():
        state = torch.load(ck, map_location="cpu", weights_only=True)
        if state.get("run_key") == run_key:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            start = int(state["epoch"])
            LOGGER.info("resuming from the checkpoint after epoch %d", start)
    loss_fn = torch.nn.CrossEntropyLoss(weight=_class_weights(items, cfg))
    for ep in range(start, epochs):
        _progress(part, "training", 0.1 + 0.7 * ep / epochs, f"epoch {ep + 1} of {epochs} (started at {start + 1})")
        seed_everything(seed + 1000 * ep)
        rng = np.random.default_rng([seed, ep])
        x, y = _epoch_tensors(items, spec, cfg, method, landmarks, rng)
        perm = torch.from_numpy(rng.permutation(len(x)))
        model.train()
        tot = 0.0
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            if len(idx) < 2:
                continue
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
        LOGGER.info("[finetune] epoch %d/%d loss %.4f", ep + 1, epochs, tot / max(len(x), 1))
        atomic_torch_save({"run_key": run_key, "epoch": ep + 1, "model": model.state_dict(),
                           "optimizer": opt.state_dict()}, ck)
    model.eval()
    return model


def _labels_and_proba(model, items, spec: CropSpec) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if not items:
        return np.zeros(0, int), np.zeros((0, 3)), []
    y = np.array([d.modic for sd, _, _ in items for d in sd.discs])
    ids = [d.study_id for sd, _, _ in items for d in sd.discs]
    return y, predict(model, items, spec), ids


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="modic-train finetune", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=None, help="label store URL (default MODIC_DATABASE_URL / the local SQLite)")
    ap.add_argument("--out", required=True, type=Path, help="the new weights folder (must not exist)")
    ap.add_argument("--method", default="zscore", help="normalization method of the classifier to fine-tune")
    ap.add_argument("--name", default=None, help="version name (default: the folder's name)")
    ap.add_argument("--cohort", default=None, type=Path, help="the shipped training cohort, mixed in against forgetting")
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--activate", action="store_true", help="make a candidate the active version")
    return ap


def _run_key(args, base_dir: Path) -> str:
    what = {"db": args.db or "", "method": args.method, "name": args.name, "cohort": str(args.cohort or ""),
            "epochs": args.epochs, "seed": args.seed, "base": str(base_dir)}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def _open_store(url: str | None) -> LabelStore:
    return open_store(url)  # one-sentence errors for bad URLs, as the label CLI


def run(args: argparse.Namespace, argv: list[str]) -> str:
    """Carry out the fine-tune (see the module); return the summary line. InputError on bad input."""
    if args.method not in NORMALIZATIONS:
        raise InputError(f"The method '{args.method}' is not a normalization method; use one of {', '.join(NORMALIZATIONS)}.")
    if args.cohort is not None and not Path(args.cohort).is_dir():
        raise InputError(f"The cohort folder '{Path(args.cohort).name}' does not exist; give the training cohort folder or leave --cohort out.")
    if args.epochs < 1:
        raise InputError("--epochs must be at least 1; give a positive number.")
    out = Path(args.out)
    args.name = args.name or out.name
    part = out.with_name(out.name + ".partial")
    with _open_store(args.db) as store:
        active = store.active_model()
        base_dir = Path(active.weights_dir) if active is not None and active.weights_dir else settings.weights_dir()
        base_name = active.name if active is not None else "shipped"
        if not (base_dir / f"classifier_{args.method}.pt").is_file():
            raise InputError(f"No classifier for the method '{args.method}' is in the current weights; pick a trained method.")
        key = _run_key(args, base_dir)
        if any(m.name == args.name for m in store.list_models()):
            raise InputError(f"A model version named '{args.name}' is already registered; give another --name or --out.")
        if out.exists():
            rec = out / RECORD
            if not rec.is_file() or json.loads(rec.read_text()).get("run_key") != key:
                raise InputError(f"The output folder '{out.name}' already exists; give a new folder.")
            return _register(store, out, FinetuneRecord.load(rec), activate=args.activate)  # killed after the rename
        if part.exists():
            run_file = part / RUN_FILE
            if not run_file.is_file() or json.loads(run_file.read_text()).get("run_key") != key:
                raise InputError(f"The folder '{part.name}' belongs to another run; give another --out or remove it.")
        else:
            part.mkdir(parents=True)
            write_json_atomic({"run_key": key, "argv": argv}, part / RUN_FILE)
        _progress(part, "loading", 0.0, "reading the reviewed levels")
        train, train_counts = store_studies(store, split="train")
        locked, locked_counts = store_studies(store, split="locked")
        if not train:
            shutil.rmtree(part, ignore_errors=True)
            raise InputError("The label store has no reviewed MC0/MC1/MC2 level in its training part; review or import "
                             "studies first.")
        model, spec, landmarks, payload = load_network(base_dir, args.method)
        base_card = ClassifierCard.load(base_dir / f"classifier_{args.method}.json")
        cfg = base_card.config
        cache = NormCache()
        items = build_crops(train, args.method, landmarks, spec, cache)
        n_cohort = 0
        if args.cohort:
            _progress(part, "loading", 0.05, "reading the training cohort")
            cohort_studies, _ = prepare_cohort(args.cohort)
            mix = build_crops(cohort_studies, args.method, landmarks, spec, cache)
            n_cohort = sum(len(sd.discs) for sd, _, _ in mix)
            items = items + mix
        current = load_network(base_dir, args.method)[0]
        finetune_model(model, items, cfg=cfg, spec=spec, method=args.method, landmarks=landmarks, epochs=args.epochs,
                       seed=args.seed, part=part, run_key=key)
        _progress(part, "evaluating", 0.85, "current vs new on the locked part")
        locked_items = build_crops(locked, args.method, landmarks, spec, cache)
        y, p_cur, ids = _labels_and_proba(current, locked_items, spec)
        _, p_new, _ = _labels_and_proba(model, locked_items, spec)
        ev = evaluate(p_cur, p_new, y, ids)
        status = decide(ev)
        _progress(part, "writing", 0.95, "writing the weights folder")
        for f in base_dir.iterdir():
            if f.is_file() and not (part / f.name).exists():
                shutil.copy2(f, part / f.name)
        pt = part / f"classifier_{args.method}.pt"
        calibration = payload.get("calibration")
        export_classifier(model, method=args.method, spec=spec, landmarks=landmarks, path=pt)
        if calibration:  # the base's temperature and threshold, carried over (not refitted: no held-out folds here)
            p = torch.load(pt, map_location="cpu", weights_only=True)
            p["calibration"] = calibration
            atomic_torch_save(p, pt)
        command = "python -m modic_core.train finetune " + " ".join(argv)
        card = ClassifierCard(
            command=command, normalization=args.method,
            data=ClassifierData(cohort="label store: train part" + (f" + {args.cohort}" if args.cohort else ""),
                                n_studies=train_counts.studies, n_discs=train_counts.used + n_cohort,
                                box_source_counts=dict(Counter(d.box_source for sd in train for d in sd.discs)),
                                excluded=[]),
            config=cfg.replace(epochs=args.epochs, seed=args.seed, lr=cfg.lr * LR_FACTOR),
            weights=pt.name, sha256=sha256_file(pt), size_bytes=pt.stat().st_size, cross_validation=None,
            calibration=base_card.calibration)
        card.save(part / f"classifier_{args.method}.json")
        record = FinetuneRecord(
            run_key=key, name=args.name, command=command, method=args.method, status=status,
            base=FinetuneBase(name=base_name, weights_dir=str(base_dir), sha256=base_card.sha256),
            data=FinetuneData(train=train_counts, locked=locked_counts,
                              cohort_discs=n_cohort),
            epochs=args.epochs, seed=args.seed, lr=cfg.lr * LR_FACTOR, metrics=FinetuneMetrics(locked=ev.to_record()),
            rule="rejected if the new model's locked MC0-vs-MC2 balanced accuracy is below the current's or "
                 "the locked part is too small to tell; else candidate (active only with --activate)",
            not_carried="prediction sets (conformal) were calibrated on the base model and are not valid "
                        "for the new weights: the card has none; the temperature is the base's",
            cv_folds="not evaluated: the base was trained on every shipped fold, so the folds are not held out",
            finished_at=datetime.now(timezone.utc).isoformat())
        record.save(part / RECORD)
        (part / CHECKPOINT).unlink(missing_ok=True)
        _progress(part, "done", 1.0, f"finished: {status}")
        part.rename(out)
        return _register(store, out, record, activate=args.activate)


def _register(store: LabelStore, out: Path, record: FinetuneRecord, *, activate: bool) -> str:
    card = json.loads((out / f"classifier_{record.method}.json").read_text())
    left_out = ("schema", "schema_version", "metrics", "run_key")
    card["finetune"] = {k: v for k, v in record.to_dict().items() if k not in left_out}
    loc = record.metrics.locked
    metrics = VersionMetrics(locked=loc, data=record.data, base=record.base.name)
    store.register_model(name=record.name, card=card, metrics=metrics.to_dict(), status=record.status,
                         weights_dir=str(out.resolve()))
    if activate and record.status == "candidate":
        store.activate_model(name=record.name)
    if loc.enough and isinstance(loc.current, ModelScores) and isinstance(loc.new, ModelScores):
        what = (f"locked MC0-vs-MC2 balanced accuracy {estimate_text(loc.current.mc0_vs_mc2.to_dict())} (current) -> "
                f"{estimate_text(loc.new.mc0_vs_mc2.to_dict())} (new)")
    else:
        what = loc.reason
    state = "active" if activate and record.status == "candidate" else record.status
    return f"{record.name}: {state}; {what}."


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``modic-train finetune``: 0 on success, 2 on bad input (one sentence on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    configure_logging(debug=settings.debug())
    set_threads()
    try:
        print(run(args, argv), flush=True)
    except InputError as exc:
        print(f"modic-train finetune: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
