"""Which model the app uses: the label store's active version, else the shipped weights.

An admin makes a registered version active (:meth:`~modic_core.labels.store.LabelStore.activate_model`);
the app then loads its detector and classifiers from that version's ``weights_dir`` (a complete weights
folder, the kind ``MODIC_WEIGHTS_DIR`` accepts). When no version is active, or the active one registered no
folder, the app uses :func:`modic_core.settings.weights_dir` (the shipped models). When the active version's
folder is missing or lacks the files the app needs (:data:`REQUIRED_FILES` and at least one
``classifier_<method>.pt``), the app falls back to the shipped models and shows :attr:`ModelInUse.warning`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from modic_core import settings
from modic_core.labels.store import LabelStore, ModelRecord

__all__ = ["REQUIRED_FILES", "SHIPPED", "ModelInUse", "active_weights_dir", "missing_files", "model_in_use"]

log = logging.getLogger(__name__)

#: Files a weights folder must hold for the app to use it (besides one ``classifier_<method>.pt``).
REQUIRED_FILES = ("detector.pt",)
#: The name shown for the shipped weights.
SHIPPED = "shipped"


@dataclass(frozen=True)
class ModelInUse:
    """The model the app uses now.

    ``name``: the active version's name, or :data:`SHIPPED`; ``weights_dir``: the folder its models load from;
    ``record``: the active version as registered (None: no version is active or the store could not be read);
    ``warning``: one sentence for the user when the active version could not be used (else "").
    """

    name: str
    weights_dir: Path
    record: ModelRecord | None = None
    warning: str = ""

    @property
    def fine_tuned(self) -> bool:
        """Whether the app uses a registered version's own weights (not the shipped ones)."""
        return self.record is not None and not self.warning and self.record.weights_dir is not None


def missing_files(folder: str | Path) -> list[str]:
    """What ``folder`` lacks of the files the app needs (empty: usable). A missing folder lacks everything."""
    folder = Path(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if not folder.is_dir() or not any(p.is_file() for p in folder.glob("classifier_*.pt")):
        missing.append("classifier_<method>.pt")
    return missing


def model_in_use(store: LabelStore) -> ModelInUse:
    """The model the app uses: the store's active version if its weights folder is usable, else the shipped
    weights (with a warning when an active version's folder is missing or incomplete, or the store cannot be
    read). Reads the store at each call (one small query), so a switch takes effect at the next rerun."""
    shipped = settings.weights_dir()
    try:
        active = store.active_model()
    except SQLAlchemyError as exc:
        log.warning("label store unreadable, using the shipped model: %s", type(exc).__name__)
        return ModelInUse(SHIPPED, shipped, warning="The label store could not be read, so the app uses the shipped "
                                                    "model; check the database (MODIC_DATABASE_URL).")
    if active is None:
        return ModelInUse(SHIPPED, shipped)
    if active.weights_dir is None:
        return ModelInUse(active.name, shipped, record=active)
    missing = missing_files(active.weights_dir)
    if missing:
        return ModelInUse(SHIPPED, shipped, record=active, warning=(
            f"The active model version {active.name!r} cannot be loaded (its weights folder lacks "
            f"{', '.join(missing)}), so the app uses the shipped model; an admin can make another version "
            "active on the Model versions page."))
    return ModelInUse(active.name, Path(active.weights_dir), record=active)


def active_weights_dir(store: LabelStore) -> Path:
    """The folder the app loads its models from (:func:`model_in_use`'s ``weights_dir``)."""
    return model_in_use(store).weights_dir
