"""The store's locked held-out part: which stored studies a fine-tune may train on and which it is judged on.

The rule is fixed in advance and never depends on the labels, the model or the order studies arrive in:
a study is ``"locked"`` when the first 8 hex digits of ``sha256("modic-locked-v1:" + study key)`` are
below 1/5 of their range (about 20 % of studies), else ``"train"``. The study key is the store's salted
pixel hash, one per study; the store keeps no patient identity, so each study counts as one patient
(two studies of the same person stored under different keys could fall on both sides; say so in reports).
"""
from __future__ import annotations

import hashlib

__all__ = ["LOCKED_SHARE", "SPLITS", "split_of"]

#: The two parts.
SPLITS = ("train", "locked")
#: Share of studies in the locked part (fixed with the rule's salt; changing it needs a new salt).
LOCKED_SHARE = 0.2
_SALT = "modic-locked-v1:"


def split_of(study_id: str) -> str:
    """``"locked"`` or ``"train"`` for the stored study ``study_id`` (deterministic, see the module)."""
    digest = hashlib.sha256((_SALT + study_id).encode("utf-8")).hexdigest()
    return "locked" if int(digest[:8], 16) < LOCKED_SHARE * 16 ** 8 else "train"
