"""Train and cross-validate the Modic classifier for one normalization method.

    python -m modic_core.train.classifier --normalization zscore --cohort PATH/TO/spider2d

Data: every graded disc of the cohort with Modic 0, 1 or 2 (MC3 discs are excluded and listed, and so
are all discs of the studies whose T2 does not line up with the T1: ``t2_aligned`` = False in studies.csv).
Regions come from the ground-truth boxes where the cohort has them and from the shipped
detector elsewhere (detected regions are matched to graded levels by level name; the source of
each crop is recorded). Patient-level, class-balanced 5-fold cross-validation with fixed folds
and seeds (the same for every method), then a final model on all discs.
Outputs: ``runs/classifier/<method>/cv_predictions.csv`` and, unless ``--skip-final``,
``weights/classifier_<method>.pt`` + ``.json`` (a :class:`modic_core.schema.ClassifierCard`: command,
data, the training config, sha256, CV metrics). Hyperparameters and the CLI's defaults:
:class:`modic_core.schema.ClassifierTrainingConfig`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from modic_core.classification.augment import paint_mc1
from modic_core.classification.crops import CropSpec, extract_crops
from modic_core.classification.model import build_classifier
from modic_core.datasets.cohort import CohortStudy, aux_classes, iter_cohort
from modic_core.normalization.methods import save_landmarks
from modic_core.schema import ClassificationReport, ClassifierCard, ClassifierData, ClassifierTrainingConfig, SyntheticMC1, write_json_atomic
from modic_core.volume import field_strength_group, scanner_group
from modic_core.train.common import classifier_arch, crop_spec, atomic_torch_save, patient_folds, seed_everything, set_threads, sha256_file

from modic_core import settings
from modic_core.logs import configure_logging, get_logger
from modic_core.detection import load_detector
from modic_core.evaluation.calibration import calibration_record
from modic_core.evaluation.metrics import classification_report, classification_by_group
from modic_core.normalization.intensity_shift import shifted_normalized
from modic_core.normalization.methods import normalize, fit_nyul

__all__ = ["DiscRecord", "NormCache", "StudyData", "T2_NOT_ALIGNED", "cv_calibration", "intensity_augmented", "cv_logits", "prepare_cohort", "run_method",
           "scanner_breakdowns", "scanner_group", "field_strength_group", "training_config", "main"]

LOGGER = get_logger(__name__)


@dataclass
class StudyData:
    """One study in memory: raw T1/T2 on the T1 grid (z, y, x) and its disc records."""

    study_id: str
    t1: object  # Volume
    t2: object  # Volume (resampled onto T1)
    manufacturer: str
    field_strength_t: float | None
    discs: list["DiscRecord"] = field(default_factory=list)


@dataclass
class DiscRecord:
    study_id: str
    level: str
    modic: int
    box: tuple[float, float, float, float]
    z_center: int
    box_source: str  # "ground truth" or "detector"
    aux: dict = field(default_factory=dict)  # auxiliary grading -> class index (cohort AUX_GRADINGS); graded ones only


#: Why every disc of a study whose T2 does not line up with its T1 is left out of training and CV.
T2_NOT_ALIGNED = "T2 does not line up with T1 (studies.csv t2_aligned = False): study left out"


def _detector_boxes(cs: CohortStudy, study, cache: dict) -> dict[str, tuple]:
    """Level name -> (box, centre slice) found by the shipped detector at 0.5; cached per detector
    weights (sha256) and study, so that a retrained detector never reuses another's boxes."""
    detector = load_detector()
    key = f"{detector.sha256[:16]}/{cs.study_id}"
    if key not in cache:
        det = detector.detect(study.t1)
        cache[key] = {d.level: (list(d.box), d.z_center) for d in det.filter(0.5)}
    return cache[key]


def prepare_cohort(cohort: str | Path, *, use_detector: bool = True, cache_path: Path | None = None, limit: int = 0) -> tuple[list[StudyData], list[dict]]:
    """Load every study and its gradable discs. Returns (studies, excluded discs with reasons)."""
    cache: dict = {}
    if cache_path and cache_path.exists():
        cache = json.loads(cache_path.read_text())
    studies, excluded = [], []
    items = list(iter_cohort(cohort))
    if limit:
        items = items[:limit]
    for cs in tqdm(items, desc="loading cohort", file=sys.stderr, leave=False):
        if cs.t2_aligned is False:  # the T2 does not line up: its crops would pair wrong tissue
            excluded.extend({"study_id": cs.study_id, "level": lv.level, "modic": lv.modic, "reason": T2_NOT_ALIGNED}
                            for lv in cs.levels)
            continue
        study = cs.load()
        zc = study.t1.shape[0] // 2
        sd = StudyData(cs.study_id, study.t1, study.t2, cs.manufacturer, cs.field_strength_t)
        det = None
        for lv in cs.levels:
            if lv.modic == 3 or lv.modic < 0:
                excluded.append({"study_id": cs.study_id, "level": lv.level, "modic": lv.modic, "reason": "MC3 (not a class of the model)" if lv.modic == 3 else "no grade"})
                continue
            if lv.box is not None:
                z = zc if lv.z_range is None else int(round(sum(lv.z_range) / 2))
                sd.discs.append(DiscRecord(cs.study_id, lv.level, lv.modic, lv.box, z, "ground truth", aux_classes(lv.extra)))
                continue
            if not use_detector:
                excluded.append({"study_id": cs.study_id, "level": lv.level, "modic": lv.modic, "reason": "no box (detector not used)"})
                continue
            if det is None:
                det = _detector_boxes(cs, study, cache)
            if lv.level in det:
                box, z = det[lv.level]
                sd.discs.append(DiscRecord(cs.study_id, lv.level, lv.modic, tuple(box), int(z), "detector", aux_classes(lv.extra)))
            else:
                excluded.append({"study_id": cs.study_id, "level": lv.level, "modic": lv.modic, "reason": "level not found by the detector"})
        studies.append(sd)
    if cache_path and use_detector:
        write_json_atomic(cache, cache_path)
    return studies, excluded


def normalize_study(sd: StudyData, method: str, landmarks: dict | None) -> tuple[np.ndarray, np.ndarray]:
    t1 = normalize(sd.t1, method, landmarks=landmarks).array
    t2 = normalize(sd.t2, method, landmarks=landmarks).array
    return t1, t2


def fit_landmarks(studies: list[StudyData]) -> dict:
    return {"T1": fit_nyul([s.t1 for s in studies]), "T2": fit_nyul([s.t2 for s in studies])}


class NormCache:
    """Normalized arrays per (study, method), computed once and shared by the folds and methods of one run.

    ``get(sd, method, landmarks)`` returns ``(t1, t2)`` as :func:`normalize_study` does; Nyul depends on
    the landmarks, so the key also holds them. Unbounded: one instance per training run.
    """

    def __init__(self) -> None:
        self.store: dict = {}

    def get(self, sd: StudyData, method: str, landmarks: dict | None):
        key = (sd.study_id, method, None if landmarks is None else float(np.sum(landmarks["T1"]) + 7 * np.sum(landmarks["T2"])))
        if key not in self.store:
            self.store[key] = normalize_study(sd, method, landmarks)
        return self.store[key]


def build_crops(studies: list[StudyData], method: str, landmarks: dict | None, spec: CropSpec, cache: NormCache):
    """Normalized arrays and disc index for on-the-fly crop extraction."""
    out = []
    for sd in studies:
        if not sd.discs:
            continue
        t1, t2 = cache.get(sd, method, landmarks)
        out.append((sd, t1, t2))
    return out


def _tensors(items, spec: CropSpec, rng: np.random.Generator | None, *, geometry: bool = False, jitter_mm: float = 3.0):
    """Crops (N, 2, D, H, W) and labels; with ``rng`` each centre jittered by up to ±``jitter_mm``;
    with ``geometry`` also each box's half height and half width in crop pixels (for the synthetic
    MC1 augmentation)."""
    xs, ys, hh, hw = [], [], [], []
    for sd, t1, t2 in items:
        boxes = np.array([d.box for d in sd.discs])
        z = [d.z_center for d in sd.discs]
        jit = rng.uniform(-jitter_mm, jitter_mm, size=(len(boxes), 2)) if rng is not None else None
        xs.append(extract_crops(t1, t2, boxes, z, sd.t1.spacing[1:], spec, jitter_mm=jit))
        ys.extend(d.modic for d in sd.discs)
        sy, sx = sd.t1.spacing[1:]
        hh.extend((boxes[:, 3] - boxes[:, 1]) * sy / spec.pixel_mm / 2)
        hw.extend((boxes[:, 2] - boxes[:, 0]) * sx / spec.pixel_mm / 2)
    x, y = torch.cat(xs), torch.tensor(ys, dtype=torch.long)
    return (x, y, np.array(hh), np.array(hw)) if geometry else (x, y)


#: Auxiliary heads whose label a painted synthetic MC1 lesion may contradict (the lesion sits at the
#: endplates); masked out for painted crops. The disc gradings stay (the disc is not painted).
ENDPLATE_HEADS = ("up_endplate", "low_endplate")


def aux_labels(items, heads: tuple[tuple[str, int], ...]) -> torch.Tensor:
    """Class index (N, n_heads) of each disc of ``items`` (in :func:`_tensors` order) for each aux head; -1 = not graded."""
    rows = [[d.aux.get(name, -1) for name, _ in heads] for sd, _, _ in items for d in sd.discs]
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), len(heads))


def aux_loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor, heads: tuple[tuple[str, int], ...]) -> torch.Tensor:
    """Mean over heads of each head's cross-entropy on its graded discs (label -1 ignored; a head with
    no graded disc in the batch adds 0 and is not counted)."""
    losses = []
    for j, (name, _) in enumerate(heads):
        lab = labels[:, j]
        if (lab >= 0).any():
            losses.append(F.cross_entropy(outputs[name], lab, ignore_index=-1))
    if not losses:
        return torch.zeros(())
    return torch.stack(losses).mean()


def synthetic_mc1_eval(model, items, spec: CropSpec, *, seed: int) -> np.ndarray:
    """Probabilities on every MC0 crop of ``items`` with a synthetic MC1 lesion painted in."""
    x, y, hh, hw = _tensors(items, spec, None, geometry=True)
    sel = (y == 0).numpy()
    if not sel.any():
        return np.zeros((0, 3), np.float32)
    xs = paint_mc1(x[sel], hh[sel], hw[sel], np.random.default_rng(seed + 1000), pixel_mm=spec.pixel_mm)
    with torch.inference_mode():
        return torch.softmax(model(xs), 1).numpy()


def training_config(base: ClassifierTrainingConfig | None = None, **changes) -> ClassifierTrainingConfig:
    """``base`` (default: the defaults) with ``changes``, crop and architecture filled in as they will be trained."""
    cfg = (base or ClassifierTrainingConfig()).replace(**changes)
    spec = crop_spec(cfg)
    return cfg.replace(crop=spec.to_dict(), model=classifier_arch(cfg).to_dict())


def intensity_augmented(items, *, method: str, landmarks: dict | None, share: float, rng: np.random.Generator):
    """``items`` (``(study, t1, t2)`` triples) with a ``share`` (0-1) of studies re-normalized from a randomly
    changed raw T1/T2 (:func:`modic_core.normalization.intensity_shift.shifted_normalized`: window/saturation
    and 8-bit export, gain, bias field, noise, gamma, drawn independently for T1 and T2); the others are
    returned unchanged. ``share`` 0 returns the same items; draws come from ``rng``."""
    return [(sd, shifted_normalized(sd.t1, method, rng, landmarks=landmarks), shifted_normalized(sd.t2, method, rng, landmarks=landmarks))
            if rng.random() < share else (sd, t1, t2) for sd, t1, t2 in items]


def train_model(items, *, cfg: ClassifierTrainingConfig, seed: int, desc: str, method: str | None = None, landmarks: dict | None = None):
    """Train one classifier with the hyperparameters of ``cfg`` and the seed ``seed`` (per fold).
    ``cfg.synthetic_mc1``: share of MC0 crops turned into synthetic MC1 each epoch
    (:func:`modic_core.classification.augment.paint_mc1`); 0 disables it.
    ``cfg.intensity_aug``: share of studies per epoch whose raw T1/T2 get a random intensity change
    before the normalization ``method`` (with Nyul ``landmarks``); 0 disables it.
    ``cfg.aux_weight``: with aux heads in the architecture (:func:`~modic_core.train.common.classifier_arch`),
    the loss is the Modic cross-entropy + ``aux_weight`` x :func:`aux_loss` (ungraded discs masked out;
    the endplate heads also for painted synthetic MC1 crops); None/0 trains the single-head model exactly as before."""
    seed_everything(seed)
    spec, synthetic_mc1, bs = crop_spec(cfg), cfg.synthetic_mc1, cfg.batch_size
    model = build_classifier(config=classifier_arch(cfg))
    heads = model.config.aux_heads if cfg.aux_weight else ()
    aux_all = aux_labels(items, heads) if heads else None
    _, y_all = _tensors(items, spec, None)
    counts = np.bincount(y_all.numpy(), minlength=3).astype(float)
    counts[1] += synthetic_mc1 * counts[0]  # expected synthetic MC1 per epoch
    counts[0] -= synthetic_mc1 * counts[0]
    w = np.where(counts > 0, counts.sum() / (3 * np.maximum(counts, 1)), 0.0).clip(0, cfg.class_weight_cap)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32), label_smoothing=float(cfg.label_smoothing or 0.0))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * (len(y_all) // bs + 1))
    rng = np.random.default_rng(seed)
    model.train()
    intensity_aug = cfg.intensity_aug or 0.0
    if intensity_aug > 0 and method is None:
        raise ValueError("intensity_aug needs the normalization method")
    for ep in range(cfg.epochs):
        ep_items = items if intensity_aug <= 0 else intensity_augmented(items, method=method, landmarks=landmarks, share=intensity_aug, rng=rng)
        x, y, hh, hw = _tensors(ep_items, spec, rng, geometry=True, jitter_mm=cfg.jitter_mm)  # fresh centre jitter each epoch
        ya = aux_all.clone() if heads else None
        if synthetic_mc1 > 0:
            sel = np.where((y == 0).numpy() & (rng.random(len(y)) < synthetic_mc1))[0]
            if len(sel):
                x[sel] = paint_mc1(x[sel], hh[sel], hw[sel], rng, pixel_mm=spec.pixel_mm)
                y[sel] = 1
                if heads:
                    for j, (name, _) in enumerate(heads):
                        if name in ENDPLATE_HEADS:
                            ya[torch.from_numpy(sel), j] = -1
        flip = torch.from_numpy(rng.random(len(x)) < cfg.flip_p)
        x[flip] = x[flip].flip(-1)  # anterior-posterior flip
        perm = torch.from_numpy(rng.permutation(len(x)))
        tot = 0.0
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            if len(idx) < 2:
                continue
            if heads:
                logits, aux_out = model.forward_aux(x[idx])
                loss = loss_fn(logits, y[idx]) + cfg.aux_weight * aux_loss(aux_out, ya[idx], heads)
            else:
                loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        LOGGER.info("[%s] epoch %d/%d loss %.4f", desc, ep + 1, cfg.epochs, tot / len(x))
    model.eval()
    return model


@torch.inference_mode()
def predict_logits(model, items, spec: CropSpec) -> np.ndarray:
    """Raw logits (N, 3) of the network (before any temperature)."""
    x, _ = _tensors(items, spec, None)
    return model(x).numpy()


def predict(model, items, spec: CropSpec) -> np.ndarray:
    return torch.softmax(torch.from_numpy(predict_logits(model, items, spec)), 1).numpy()


PROBA_COLUMNS = ["p_mc0", "p_mc1", "p_mc2"]
LOGIT_COLUMNS = ["logit_mc0", "logit_mc1", "logit_mc2"]


def cv_logits(cv: pd.DataFrame) -> np.ndarray:
    """Logits (N, 3) of CV predictions: the saved logit columns, else log-probabilities (folds written
    before logits were saved; a softmax gives the same result from either)."""
    if all(c in cv.columns for c in LOGIT_COLUMNS) and cv[LOGIT_COLUMNS].notna().all().all():
        return cv[LOGIT_COLUMNS].to_numpy(dtype=np.float64)
    return np.log(np.clip(cv[PROBA_COLUMNS].to_numpy(dtype=np.float64), 1e-12, 1.0))


def cv_calibration(cv: pd.DataFrame, *, n_boot: int = 500):
    """Temperature, uncertainty threshold, ECE and reliability of one method's CV predictions
    (a :class:`modic_core.schema.CalibrationRecord`; nested over the ``fold`` column)."""
    return calibration_record(cv_logits(cv), cv["modic"].to_numpy(dtype=int), cv["fold"].to_numpy(dtype=int),
                              patient_ids=cv["study_id"].astype(str).tolist(), n_boot=n_boot,
                              fitted_on=f"{len(cv)} out-of-fold predictions of {cv['study_id'].nunique()} studies, "
                                        f"{cv['fold'].nunique()} folds")


def run_method(
    method: str,
    studies: list[StudyData],
    *,
    folds: list[list[str]],
    cfg: ClassifierTrainingConfig,
    out_dir: Path,
    cache: NormCache | None = None,
) -> pd.DataFrame:
    """Cross-validated predictions (one row per disc) for one method; resumes finished folds.
    Fold k trains with the seed ``cfg.seed + k``."""
    cache = cache or NormCache()
    spec, seed = crop_spec(cfg), cfg.seed
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = []
    for k, test_ids in enumerate(folds):
        fpath = out_dir / f"fold{k}.csv"
        if fpath.exists():
            frames.append(pd.read_csv(fpath, dtype={"study_id": str}))
            continue
        test = set(test_ids)
        train_s = [s for s in studies if s.study_id not in test]
        test_s = [s for s in studies if s.study_id in test]
        lm = fit_landmarks(train_s) if method == "nyul" else None
        tr_items = build_crops(train_s, method, lm, spec, cache)
        te_items = build_crops(test_s, method, lm, spec, cache)
        model = train_model(tr_items, cfg=cfg, seed=seed + k, desc=f"{method} fold {k}", method=method, landmarks=lm)
        logits = predict_logits(model, te_items, spec)
        p = torch.softmax(torch.from_numpy(logits), 1).numpy()
        ps = synthetic_mc1_eval(model, te_items, spec, seed=seed + k)
        pd.DataFrame(ps, columns=["p_mc0", "p_mc1", "p_mc2"]).to_csv(out_dir / f"fold{k}_synthetic_mc1.csv", index=False)
        rows = [
            {"study_id": d.study_id, "level": d.level, "modic": d.modic, "box_source": d.box_source, "fold": k,
             "manufacturer": sd.manufacturer, "field_strength_t": sd.field_strength_t}
            for sd, _, _ in te_items for d in sd.discs
        ]
        df = pd.DataFrame(rows)
        df["p_mc0"], df["p_mc1"], df["p_mc2"] = p[:, 0], p[:, 1], p[:, 2]
        for j, c in enumerate(LOGIT_COLUMNS):  # raw logits: the temperature is fitted on these
            df[c] = logits[:, j]
        df["prediction"] = p.argmax(1)
        df.to_csv(fpath, index=False)
        frames.append(df)
    cv = pd.concat(frames, ignore_index=True)
    cv.to_csv(out_dir / "cv_predictions.csv", index=False)
    syn = [out_dir / f"fold{k}_synthetic_mc1.csv" for k in range(len(folds))]
    if all(p.exists() for p in syn):
        cv.attrs["synthetic_mc1"] = pd.concat([pd.read_csv(p) for p in syn], ignore_index=True)
    return cv


def cv_metrics(cv: pd.DataFrame, *, n_boot: int = 1000) -> ClassificationReport:
    proba = cv[["p_mc0", "p_mc1", "p_mc2"]].to_numpy()
    rep = classification_report(cv["modic"].tolist(), cv["prediction"].tolist(), proba=proba,
                                patient_ids=cv["study_id"].tolist(), n_boot=n_boot, seed=0)
    by_src = {}
    for src, g in cv.groupby("box_source"):
        by_src[src] = classification_report(g["modic"].tolist(), g["prediction"].tolist(), proba=g[["p_mc0", "p_mc1", "p_mc2"]].to_numpy(),
                                            patient_ids=g["study_id"].tolist(), n_boot=0)
    rep.by_box_source = by_src
    syn = cv.attrs.get("synthetic_mc1")
    if syn is not None and len(syn):
        pred = syn[["p_mc0", "p_mc1", "p_mc2"]].to_numpy().argmax(1)
        rep.synthetic_mc1 = SyntheticMC1(
            what="held-out real MC0 crops with a synthetic MC1 lesion painted in (not real MC1)",
            n=int(len(syn)), sensitivity=float((pred == 1).mean()),
            predicted_as={c: int((pred == i).sum()) for i, c in enumerate(("MC0", "MC1", "MC2"))},
        )
    return rep


def scanner_breakdowns(cv: pd.DataFrame, *, n_boot: int = 200) -> dict:
    """CV reports per scanner maker and per field strength (patient-bootstrap CIs; classes and the
    MC0-vs-MC2 score flagged "too few cases" where a group has fewer than 10 discs of a class):
    ``{"by_manufacturer": {...}, "by_field_strength": {...}}`` of ClassificationReports."""
    yt, yp = cv["modic"].to_numpy(), cv["prediction"].to_numpy()
    pr, pid = cv[PROBA_COLUMNS].to_numpy(), cv["study_id"].astype(str).tolist()
    out = {}
    for key, groups in (("by_manufacturer", [scanner_group(v) for v in cv["manufacturer"]]),
                        ("by_field_strength", [field_strength_group(v) for v in cv["field_strength_t"]])):
        reps = classification_by_group(yt, yp, groups, proba=pr, patient_ids=pid, n_boot=n_boot)
        out[key] = {str(g): v for g, v in reps.items()}
    return out


def default_folds(studies: list[StudyData], *, n_folds: int = 5, seed: int = 0) -> list[list[str]]:
    """Patient-level folds balanced for patients with any MC1/MC2 disc (the same for every method)."""
    ids = [s.study_id for s in studies]
    strata = [int(any(d.modic in (1, 2) for d in s.discs)) + int(any(d.modic == 1 for d in s.discs)) for s in studies]
    return patient_folds(ids, n_folds=n_folds, seed=seed, strata=strata)


def export_classifier(model, *, method: str, spec: CropSpec, landmarks: dict | None, path: Path, calibration=None) -> None:
    """The weights file; ``calibration`` (a CalibrationRecord) stores its temperature and uncertainty
    threshold in the payload, where :func:`modic_core.classification.infer.load_classifier` reads them."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    atomic_torch_save({
        "state_dict": sd, "config": model.config.to_dict(), "crop": spec.to_dict(), "normalization": method,
        "landmarks": None if landmarks is None else {k: np.asarray(v).tolist() for k, v in landmarks.items()},
        "classes": ["MC0", "MC1", "MC2"], "format": "modic-classifier-v1",
        **({} if calibration is None else {"calibration": {"temperature": float(calibration.temperature),
                                                           "uncertain_below": calibration.uncertain_below}}),
    }, path)


def train_final(method: str, studies: list[StudyData], *, cfg: ClassifierTrainingConfig, weights_dir: Path,
                cache: NormCache, cv: pd.DataFrame | None, argv: list[str], excluded: list[dict], cohort: str) -> Path:
    """Train on every disc and write ``classifier_<method>.pt`` and its card (plus the Nyul landmarks file)."""
    spec = crop_spec(cfg)
    lm = fit_landmarks(studies) if method == "nyul" else None
    items = build_crops(studies, method, lm, spec, cache)
    model = train_model(items, cfg=cfg, seed=cfg.seed, desc=f"{method} final", method=method, landmarks=lm)
    path = weights_dir / f"classifier_{method}.pt"
    calibration = cv_calibration(cv) if cv is not None else None
    export_classifier(model, method=method, spec=spec, landmarks=lm, path=path, calibration=calibration)
    if lm is not None:  # the Nyul landmarks also as a small file beside the weights
        save_landmarks(lm, weights_dir / "nyul_landmarks.json", extra={"fitted_on": f"{len(studies)} studies of {cohort}"})
    n_src = pd.Series([d.box_source for s in studies for d in s.discs]).value_counts().to_dict()
    card = ClassifierCard(
        command="python -m modic_core.train.classifier " + " ".join(argv),
        normalization=method,
        data=ClassifierData(cohort=cohort, n_studies=len(studies), n_discs=int(sum(len(s.discs) for s in studies)),
                            box_source_counts={str(k): int(v) for k, v in n_src.items()}, excluded=excluded),
        config=cfg.replace(model=model.config.to_dict()),
        weights=path.name, sha256=sha256_file(path), size_bytes=path.stat().st_size,
        cross_validation=cv_metrics(cv) if cv is not None else None,
        calibration=calibration,
        **(scanner_breakdowns(cv) if cv is not None else {}),
    )
    card.save(weights_dir / f"classifier_{method}.json")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--normalization", required=True)
    ap.add_argument("--no-detector", action="store_true", help="use only discs with ground-truth boxes")
    ap.add_argument("--skip-final", action="store_true")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    set_threads()
    cfg = config_from_args(args)
    runs = Path(args.runs)
    studies, excluded = prepare_cohort(args.cohort, use_detector=not args.no_detector, cache_path=runs / "detector_boxes.json", limit=args.limit)
    folds = default_folds(studies, n_folds=cfg.n_folds, seed=cfg.seed)
    write_json_atomic(folds, runs / "folds.json")
    cache = NormCache()
    t0 = time.time()
    cv = run_method(args.normalization, studies, folds=folds, cfg=cfg, out_dir=runs / args.normalization, cache=cache)
    rep = cv_metrics(cv, n_boot=200)
    print(json.dumps({"method": args.normalization, "balanced_accuracy": rep.balanced_accuracy.display,
                      "mc0_vs_mc2": rep.mc0_vs_mc2.display,
                      "synthetic_mc1": rep.synthetic_mc1.to_dict() if rep.synthetic_mc1 else None,
                      "minutes": round((time.time() - t0) / 60, 1)}, default=str), flush=True)
    if not args.skip_final:
        train_final(args.normalization, studies, cfg=cfg, weights_dir=Path(args.weights), cache=cache, cv=cv, argv=argv,
                    excluded=excluded, cohort=str(args.cohort))
    return 0


def add_config_args(ap: argparse.ArgumentParser) -> None:
    """The options shared with modic_core.train.compare; defaults from :class:`ClassifierTrainingConfig`."""
    d = ClassifierTrainingConfig()
    ap.add_argument("--cohort", required=True, help="cohort folder (studies.csv + levels.csv) or a SPIDER release root")
    ap.add_argument("--weights", default="weights")
    ap.add_argument("--runs", default="runs/classifier")
    ap.add_argument("--epochs", type=int, default=d.epochs)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--depth", type=int, default=crop_spec(d).depth, help="slices per crop (1 for single-slice data)")
    ap.add_argument("--synthetic-mc1", type=float, default=d.synthetic_mc1,
                    help=f"share of MC0 crops turned into synthetic MC1 per epoch (0 disables; {d.synthetic_mc1:g} shipped, see README)")
    ap.add_argument("--intensity-aug", type=float, default=d.intensity_aug or 0.0,
                    help="share of studies per epoch whose raw T1/T2 get a random window/8-bit export, gain, bias field, "
                         "noise and gamma before the normalization (0, the default, disables it)")
    spec = crop_spec(d)
    ap.add_argument("--crop-height", type=int, default=spec.height, help="crop rows (superior-inferior), pixels of --pixel-mm")
    ap.add_argument("--crop-width", type=int, default=spec.width, help="crop columns (anterior-posterior), pixels of --pixel-mm")
    ap.add_argument("--pixel-mm", type=float, default=spec.pixel_mm, help="crop pixel size in mm")
    ap.add_argument("--label-smoothing", type=float, default=0.0,
                    help="label smoothing of the Modic cross-entropy (0, the default and shipped, disables it)")


def config_from_args(args: argparse.Namespace) -> ClassifierTrainingConfig:
    base = ClassifierTrainingConfig()
    return training_config(epochs=args.epochs, seed=args.seed, synthetic_mc1=args.synthetic_mc1,
                           intensity_aug=args.intensity_aug or None, label_smoothing=getattr(args, "label_smoothing", 0.0) or None,
                           crop={**crop_spec(base).to_dict(), "depth": args.depth,
                                 **{k: getattr(args, a) for k, a in (("height", "crop_height"), ("width", "crop_width"),
                                                                      ("pixel_mm", "pixel_mm")) if getattr(args, a, None)}})


if __name__ == "__main__":
    raise SystemExit(main())
