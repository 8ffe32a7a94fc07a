"""``modic-train {detector,classifier,compare,audit,robustness,finetune} ...`` (same as ``python -m modic_core.train.<name>``)."""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "detector": "modic_core.train.detector",
    "classifier": "modic_core.train.classifier",
    "compare": "modic_core.train.compare",
    "audit": "modic_core.train.audit",
    "robustness": "modic_core.train.robustness",
    "finetune": "modic_core.train.finetune",
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print("usage: modic-train {" + ",".join(COMMANDS) + "} [options]   (-h after a command for its options)",
              file=sys.stderr)
        return 2
    return int(importlib.import_module(COMMANDS[args[0]]).main(args[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
