"""One-off: rewrite the shipped unversioned JSON files in the version-1 layouts of modic_core.schema.

    python -m modic_core.train.migrate_v1 [--weights weights] [--bench benchmarks/latest.json]

No number changes: every scalar of the old file is checked to be in the new one. Layout changes:
the cards' ``seed``/``epochs``/``synthetic_mc1``/``crop`` and architecture ``config`` move into the
typed training ``config`` (hyperparameters the old cards did not record are those of the training
code that produced the weights); the comparison's ``paired_vs_<reference>`` becomes ``paired``.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from modic_core.schema import (
    Benchmark,
    ClassifierCard,
    ClassifierTrainingConfig,
    DetectorCard,
    DetectorTrainingConfig,
    NormalizationComparison,
    NyulLandmarks,
)


def _leaves(obj: Any) -> Counter:
    c: Counter = Counter()
    if isinstance(obj, dict):
        for v in obj.values():
            c += _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            c += _leaves(v)
    else:
        c[json.dumps(obj)] += 1
    return c


def _classifier_config(old: dict) -> dict:
    return ClassifierTrainingConfig(epochs=old["epochs"], seed=old["seed"], synthetic_mc1=old["synthetic_mc1"],
                                    crop=old["crop"], model=old["config"]).to_dict()


def classifier_card(old: dict) -> dict:
    new = {k: v for k, v in old.items() if k not in ("seed", "epochs", "synthetic_mc1", "crop", "config")}
    new["config"] = _classifier_config(old)
    return ClassifierCard.body_from_dict(new).to_dict()


def detector_card(old: dict) -> dict:
    new = {k: v for k, v in old.items() if k not in ("seed", "epochs", "config")}
    new["config"] = DetectorTrainingConfig(epochs=old["epochs"], seed=old["seed"], n_folds=len(old["folds"]),
                                           model=old["config"]).to_dict()
    return DetectorCard.body_from_dict(new).to_dict()


def comparison(old: dict, model: dict) -> dict:
    ref = old["reference"]
    new = {k: v for k, v in old.items() if k not in ("seed", "epochs", "synthetic_mc1", "crop", "methods")}
    new["config"] = _classifier_config({**old, "config": model})
    new["methods"] = {}
    for name, e in old["methods"].items():
        e = dict(e)
        if f"paired_vs_{ref}" in e:
            e["paired"] = e.pop(f"paired_vs_{ref}")
        new["methods"][name] = e
    return NormalizationComparison.body_from_dict(new).to_dict()


def _write(path: Path, old: dict, new: dict, indent: int = 2) -> None:
    missing = _leaves(old) - _leaves(new)
    if missing:
        raise SystemExit(f"{path}: values lost in migration: {list(missing)[:5]}")
    path.write_text(json.dumps(new, indent=indent) + "\n")
    print("migrated", path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="weights")
    ap.add_argument("--bench", default="benchmarks/latest.json")
    args = ap.parse_args(argv)
    w = Path(args.weights)
    models = []
    for p in sorted(w.glob("classifier_*.json")):
        old = json.loads(p.read_text())
        if "schema" in old:
            continue
        models.append(old["config"])
        _write(p, old, classifier_card(old))
    p = w / "detector.json"
    old = json.loads(p.read_text())
    if "schema" not in old:
        _write(p, old, detector_card(old))
    p = w / "normalization_comparison.json"
    old = json.loads(p.read_text())
    if "schema" not in old:
        if any(m != models[0] for m in models):
            raise SystemExit("the classifier cards disagree on the architecture; cannot fill the comparison's config")
        _write(p, old, comparison(old, models[0]))
    p = w / "nyul_landmarks.json"
    old = json.loads(p.read_text())
    if "schema" not in old:
        _write(p, old, NyulLandmarks.body_from_dict(old).to_dict(), indent=1)
    p = Path(args.bench)
    old = json.loads(p.read_text())
    if "schema" not in old:
        _write(p, old, Benchmark.body_from_dict(old).to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
