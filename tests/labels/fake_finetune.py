"""A stand-in for ``python -m modic_core.train finetune`` with the same interface and contract, for the tests of
the background job and the versions page: ``--db URL --out DIR [--method M] [--name NAME] [--activate]``.

It keeps ``DIR.partial/progress.json`` while it runs (``FAKE_FINETUNE_STEPS`` steps of ``FAKE_FINETUNE_SLEEP``
seconds), resumes from the last finished step when run again, and on success writes ``DIR`` (a detector and
the method's classifier, dummy bytes) and registers the version with before/after metrics on the locked part.
``FAKE_FINETUNE_FAIL=1``: exits 1 after the steps with an error line; nothing registered.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


def estimate(value: float) -> dict:
    return {"value": value, "ci_low": value - 0.05, "ci_high": value + 0.05,
            "display": f"{value:.3f} (95% CI {value - 0.05:.3f}-{value + 0.05:.3f})"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=os.environ.get("MODIC_DATABASE_URL"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--method", default="zscore")
    ap.add_argument("--name", default="finetuned")
    ap.add_argument("--activate", action="store_true")
    args = ap.parse_args()
    steps = int(os.environ.get("FAKE_FINETUNE_STEPS", "3"))
    pause = float(os.environ.get("FAKE_FINETUNE_SLEEP", "0.05"))
    out = Path(args.out)
    partial = Path(args.out + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    done_file = partial / "steps_done"
    start = int(done_file.read_text()) if done_file.is_file() else 0
    print(f"fake finetune {args.name}: starting at step {start} of {steps}", flush=True)
    for i in range(start, steps):
        (partial / "progress.json").write_text(json.dumps(
            {"stage": "training", "fraction": i / steps, "message": f"epoch {i + 1} of {steps}"}))
        time.sleep(pause)
        done_file.write_text(str(i + 1))
    if os.environ.get("FAKE_FINETUNE_FAIL"):
        print("error: the fake fine-tune failed on purpose", flush=True)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    (out / "detector.pt").write_bytes(b"detector")
    (out / f"classifier_{args.method}.pt").write_bytes(b"classifier " + args.name.encode())
    shutil.rmtree(partial)
    from modic_core.labels import LabelStore

    metrics = {"locked": {"current": {"balanced_accuracy": estimate(0.61), "mc0_vs_mc2": estimate(0.70)},
                          "new": {"balanced_accuracy": estimate(0.66), "mc0_vs_mc2": estimate(0.74)},
                          "n_studies": 4}}
    with LabelStore.open(args.db) as store:
        store.register_model(name=args.name, card={"method": args.method}, metrics=metrics, weights_dir=out,
                             status="active" if args.activate else "candidate", actor="finetune")
    print(f"registered {args.name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
