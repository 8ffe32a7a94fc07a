"""A simulated site: does fine-tuning on a site's 20 reviewed studies help?

    python -m modic_core.train.simulated_site --cohort PATH/TO/spider2d --json weights/simulated_site.json

Choices, fixed in advance and written into the JSON:

- From the cohort's aligned studies (``t2_aligned`` not False, at least one MC0-MC2 disc), sorted by id, a
  permutation drawn with ``numpy.random.default_rng(seed)``: the first ``--n-site`` (20) are "the site", the next
  ``--n-other`` (30) are "other studies" that no model here ever trains on, the rest train the base model.
- The base model: the shipped recipe (the shipped card's config, :func:`modic_core.train.classifier.train_model`)
  on the rest only; its weights folder is the shipped one with this classifier in place, registered as the
  active version of a temp label store.
- The site's studies are imported into that store as reviews by "site" (:func:`modic_core.labels.cohorts.import_cohort`);
  the store's fixed rule puts about 1/5 of them in its locked part.
- Fine-tuning through the CLI's code path (:func:`modic_core.train.finetune.main`), as a site would run it (the
  store only); with ``--mix`` also a second version with the base's training studies mixed in (``--cohort``).
- Judged on the store's locked part (by ``finetune``) and on the other studies: MC0-vs-MC2 and 3-class balanced
  accuracy, sensitivities, 95 % study-bootstrap CIs and the paired difference new - base.

Work files (weights, store) go to ``--work`` (default a folder under /tmp); only the JSON is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from modic_core import settings
from modic_core.datasets.cohort import iter_cohort
from modic_core.labels.cohorts import import_cohort
from modic_core.labels.store import LabelStore
from modic_core.logs import configure_logging, get_logger
from modic_core.schema import (ClassifierCard, ClassifierData, FinetuneRecord, OtherStudies, PairedDiff, SimulatedSite,
                                SiteArm, SiteChoices)
from modic_core.train import finetune
from modic_core.train.classifier import NormCache, build_crops, export_classifier, predict, prepare_cohort, train_model
from modic_core.train.common import crop_spec, set_threads, sha256_file

__all__ = ["draw", "main"]

LOGGER = get_logger(__name__)


def draw(ids: list[str], *, n_site: int, n_other: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    """(site, other, base-training) study ids: a seeded permutation of the sorted ``ids``, split in that order."""
    perm = [str(i) for i in np.random.default_rng(seed).permutation(sorted(ids, key=str))]
    return sorted(perm[:n_site]), sorted(perm[n_site:n_site + n_other]), sorted(perm[n_site + n_other:])


def _subset_cohort(cohort: Path, ids: list[str], out: Path) -> Path:
    """A cohort folder ``out`` with the studies ``ids`` of ``cohort`` (their image files copied in)."""
    out.mkdir(parents=True, exist_ok=True)
    studies = pd.read_csv(cohort / "studies.csv", dtype={"study_id": str})
    levels = pd.read_csv(cohort / "levels.csv", dtype={"study_id": str})
    studies = studies[studies["study_id"].isin(ids)].copy()
    for col in ("t1", "t2"):
        for p in studies[col]:
            (out / p).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(cohort / p, out / p)
    studies.to_csv(out / "studies.csv", index=False)
    levels[levels["study_id"].isin(ids)].to_csv(out / "levels.csv", index=False)
    return out


def _base_model(studies, *, method: str, work: Path, cohort: str) -> Path:
    """Train (or reuse) the base model on ``studies`` with the shipped recipe; return its weights folder."""
    base = work / "base"
    if (base / "done").is_file():
        return base
    shipped = settings.weights_dir()
    cfg = ClassifierCard.load(shipped / f"classifier_{method}.json").config
    spec = crop_spec(cfg)
    items = build_crops(studies, method, None, spec, NormCache())
    model = train_model(items, cfg=cfg, seed=cfg.seed, desc="simulated site base", method=method)
    base.mkdir(parents=True, exist_ok=True)
    for f in shipped.iterdir():
        if f.is_file():
            shutil.copy2(f, base / f.name)
    pt = base / f"classifier_{method}.pt"
    export_classifier(model, method=method, spec=spec, landmarks=None, path=pt)
    n_discs = sum(len(s.discs) for s in studies)
    ClassifierCard(command="python -m modic_core.train.simulated_site (base model)", normalization=method,
                   data=ClassifierData(cohort=f"{cohort} without the site's and the other studies", n_studies=len(studies),
                                       n_discs=n_discs, box_source_counts={}, excluded=[]),
                   config=cfg, weights=pt.name, sha256=sha256_file(pt), size_bytes=pt.stat().st_size,
                   cross_validation=None).save(base / f"classifier_{method}.json")
    (base / "done").write_text("ok")
    return base


def _on_other(base_dir: Path, new_dir: Path, studies, method: str) -> OtherStudies:
    """Base vs new on the other studies: both reports and the paired differences (new - base)."""
    cur, spec, lm, _ = finetune.load_network(base_dir, method)
    new = finetune.load_network(new_dir, method)[0]
    items = build_crops(studies, method, lm, spec, NormCache())
    y = np.array([d.modic for sd, _, _ in items for d in sd.discs])
    ids = [d.study_id for sd, _, _ in items for d in sd.discs]
    ev = finetune.evaluate(predict(cur, items, spec), predict(new, items, spec), y, ids)
    return OtherStudies(n_levels=ev.n_levels, n_studies=ev.n_studies, base=ev.current, new=ev.new,
                        paired_new_minus_base=ev.paired)


def verdict(paired: Mapping[str, PairedDiff] | None) -> str:
    """"helped" / "hurt" when the paired MC0-vs-MC2 difference's 95 % CI excludes 0, else "no clear change"
    ("not measurable" without one)."""
    d = (paired or {}).get("mc0_vs_mc2_balanced_accuracy")
    if d is None or d.ci_low is None or d.ci_high is None:
        return "not measurable"
    if d.ci_low > 0:
        return "helped"
    if d.ci_high < 0:
        return "hurt"
    return "no clear change"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, type=Path)
    ap.add_argument("--json", required=True, type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/modic_simulated_site"))
    ap.add_argument("--method", default="zscore")
    ap.add_argument("--n-site", type=int, default=20)
    ap.add_argument("--n-other", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=finetune.DEFAULT_EPOCHS)
    ap.add_argument("--mix", action="store_true", help="also fine-tune with the base's training studies mixed in")
    ap.add_argument("--detector-cache", type=Path, default=None, help="detector boxes cache (as the classifier's runs/)")
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())
    set_threads()
    t0 = time.time()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MODIC_DATA_DIR"] = str(work / "data")  # the temp store's images (finetune opens the store by URL)
    eligible = [cs.study_id for cs in iter_cohort(args.cohort)
                if cs.t2_aligned is not False and any(0 <= lv.modic <= 2 for lv in cs.levels)]
    site, other, rest = draw(eligible, n_site=args.n_site, n_other=args.n_other, seed=args.seed)
    cache = work / "detector_boxes.json"
    if args.detector_cache and args.detector_cache.is_file() and not cache.exists():
        shutil.copy2(args.detector_cache, cache)
    studies, _ = prepare_cohort(args.cohort, cache_path=cache)
    by_id = {s.study_id: s for s in studies}
    base_dir = _base_model([by_id[i] for i in rest if i in by_id], method=args.method, work=work, cohort=str(args.cohort))
    LOGGER.info("base model ready after %.1f min", (time.time() - t0) / 60)
    url = f"sqlite:///{work / 'site.sqlite3'}"
    with LabelStore.open(url, data_dir=work / "data") as store:
        if not store.list_models():
            import_cohort(store, cohort=_subset_cohort(args.cohort, site, work / "site_cohort"), reviewer="site")
            store.register_model(name="base", card={"command": "simulated site base"}, metrics={}, status="active",
                                 weights_dir=str(base_dir))
        n_locked = sum(s.split == "locked" for s in store.list_studies())
    arms = [("site only", [])]
    if args.mix:
        arms.append(("site + base training studies", ["--cohort", str(_subset_cohort(args.cohort, rest, work / "rest_cohort"))]))
    result = SimulatedSite(
        command="python -m modic_core.train.simulated_site " + " ".join(argv),
        choices=SiteChoices(seed=args.seed, method=args.method, n_site=len(site), n_other=len(other),
                            n_base_training=len(rest), epochs=args.epochs, lr_factor=finetune.LR_FACTOR,
                            min_locked_levels=finetune.MIN_LOCKED_LEVELS, eligible="aligned studies with an MC0-MC2 disc",
                            draw="numpy default_rng(seed).permutation of the sorted ids: site, then other, then base training",
                            site_ids=site, other_ids=other, site_locked_studies=n_locked,
                            decision_rule="rejected if the new model's locked MC0-vs-MC2 balanced accuracy is below the "
                                          "base's or the locked part is too small to tell"))
    other_studies = [by_id[i] for i in other if i in by_id]
    for k, (label, extra) in enumerate(arms):
        out = work / f"version{k + 1}"
        ft_argv = ["--db", url, "--out", str(out), "--method", args.method, "--epochs", str(args.epochs),
                   "--seed", str(args.seed), "--name", f"site-v{k + 1}", *extra]
        if not (out / finetune.RECORD).is_file():
            rc = finetune.main(ft_argv)
            if rc:
                raise SystemExit(rc)
        record = FinetuneRecord.load(out / finetune.RECORD)
        other_eval = _on_other(base_dir, out, other_studies, args.method)
        locked = record.metrics.locked
        arm = SiteArm(label=label, status=record.status, data=record.data, locked=locked, other=other_eval,
                      verdict_other=verdict(other_eval.paired_new_minus_base),
                      verdict_locked=verdict(locked.paired_new_minus_current))
        result = result.replace(arms=[*result.arms, arm], minutes=round((time.time() - t0) / 60, 1),
                                finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        result.save(args.json)
        LOGGER.info("arm %s done after %.1f min", label, result.minutes)
    print(json.dumps({a.label: [a.status, a.verdict_locked, a.verdict_other] for a in result.arms}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
