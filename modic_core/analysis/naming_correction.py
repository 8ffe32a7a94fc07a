"""User corrections of level names: shift every name by whole levels, or rename single levels.

A correction changes names only: it is applied to a finished
:class:`~modic_core.analysis.report.StudyReport` and returns a new report whose levels keep their
boxes, grades, probabilities and Grad-CAM (no network runs). Names are checked against the
anatomy table (:data:`modic_core.anatomy.LEVEL_NAMES`): a correction that would give a name outside
it, give two levels the same name, or break the head-to-foot order of the names is refused with
an :class:`~modic_core.errors.InputError` sentence.

Direction: "up" is cranial. Shifting up by one level turns L5-S1 into L4-L5 (the lowest disc found
was really L4-L5, e.g. because L5-S1 was missed); shifting down by one turns L4-L5 into L5-S1.

    >>> corr = NameCorrection().then(Shift(1)).then(Rename("L3-L4", "L2-L3"))
    >>> corrected = apply_correction(report, corr)   # doctest: +SKIP
    >>> corrected.naming_correction                   # doctest: +SKIP
    'all names shifted up by one level; then L3-L4 renamed to L2-L3'
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Union

from modic_core.anatomy import LEVEL_NAMES, level_index, level_name
from modic_core.errors import InputError

__all__ = ["NameCorrection", "Rename", "Shift", "apply_correction", "corrected_names"]

_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


@dataclass(frozen=True)
class Shift:
    """Every name moved by ``levels`` whole levels: positive = up (cranial), negative = down."""

    levels: int

    def __post_init__(self) -> None:
        if not isinstance(self.levels, int) or isinstance(self.levels, bool):
            raise InputError(f"A shift of level names must be a whole number of levels, not {self.levels!r}.")

    def describe(self) -> str:
        k = abs(self.levels)
        count = f"{_WORDS.get(k, str(k))} level{'s' if k != 1 else ''}"
        return f"all names shifted {'up' if self.levels > 0 else 'down'} by {count}"


@dataclass(frozen=True)
class Rename:
    """The level named ``old`` gets the name ``new`` (both anatomy-table names, e.g. "L4-L5")."""

    old: str
    new: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "old", str(self.old).strip().upper())
        object.__setattr__(self, "new", str(self.new).strip().upper())

    def describe(self) -> str:
        return f"{self.old} renamed to {self.new}"


Step = Union[Shift, Rename]


@dataclass(frozen=True)
class NameCorrection:
    """An ordered list of :class:`Shift` / :class:`Rename` steps (empty: no correction).

    Build it with :meth:`then`; consecutive shifts are merged (up then down cancels out).
    """

    steps: tuple[Step, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.steps)

    def then(self, step: Step) -> "NameCorrection":
        """This correction followed by ``step`` (a zero shift or a rename to the same name adds nothing)."""
        steps = list(self.steps)
        if isinstance(step, Shift):
            if steps and isinstance(steps[-1], Shift):
                step = Shift(steps.pop().levels + step.levels)
            if step.levels == 0:
                return NameCorrection(tuple(steps))
        elif isinstance(step, Rename):
            if step.old == step.new:
                return self
        else:
            raise TypeError(f"not a naming correction step: {step!r}")
        return NameCorrection(tuple(steps) + (step,))

    def describe(self) -> str:
        """Human-readable, e.g. "all names shifted up by one level; then L4-L5 renamed to L3-L4"."""
        return "; then ".join(s.describe() for s in self.steps)


def _apply_step(names: list[str], step: Step) -> list[str]:
    if isinstance(step, Shift):
        out = []
        for name in names:
            idx = level_index(name)
            if idx is None:
                raise InputError(f"The names cannot be shifted: {name} is not a disc level of the anatomy table "
                                 f"({LEVEL_NAMES[0]} up to {LEVEL_NAMES[-1]}).")
            new = idx + step.levels
            if not 1 <= new <= len(LEVEL_NAMES):
                edge = LEVEL_NAMES[0] if new < 1 else LEVEL_NAMES[-1]
                raise InputError(f"The names cannot be {step.describe().removeprefix('all names ')}: {name} would move "
                                 f"{'below' if new < 1 else 'above'} {edge}, the {'lowest' if new < 1 else 'highest'} level of the anatomy table.")
            out.append(level_name(new))
        return out
    if step.old not in names:
        raise InputError(f"No level is named {step.old} in this report, so it cannot be renamed "
                         f"(levels shown: {', '.join(names) or 'none'}).")
    if level_index(step.new) is None:
        raise InputError(f"{step.new} is not a disc level name; use one of {LEVEL_NAMES[0]}, {LEVEL_NAMES[1]}, ... "
                         f"{LEVEL_NAMES[-1]}.")
    if step.new in names:
        raise InputError(f"{step.old} cannot be renamed to {step.new}: another level already has that name. "
                         "Rename that level first, or shift all names.")
    return [step.new if n == step.old else n for n in names]


def _in_order(names: list[str]) -> bool:
    """True when the names, listed top to bottom, run from head to foot (disc numbers decreasing)."""
    idx = [level_index(n) for n in names]
    return all(i is not None for i in idx) and all(a > b for a, b in zip(idx, idx[1:]))


def corrected_names(names: list[str], correction: NameCorrection) -> list[str]:
    """The names (listed top to bottom) after ``correction``.

    Raises:
        InputError: a name would fall outside the anatomy table, two levels would share a name, a
            renamed level is not in ``names``, or the names would no longer run from head to foot.
    """
    out = [str(n) for n in names]
    for step in correction.steps:
        out = _apply_step(out, step)
    if _in_order(list(names)) and not _in_order(out):
        raise InputError(f"Level names corrected this way ({correction.describe()}) would no longer run from head to "
                         f"foot ({', '.join(out)}); rename the levels in order or shift all names instead.")
    return out


def apply_correction(report, correction: NameCorrection):
    """A copy of ``report`` with the corrected level names, recorded as corrected by the user.

    Levels keep their boxes, grades and heat maps (no network runs); each remembers the name the
    detector gave it (``LevelResult.detected_level``). An empty correction returns ``report`` itself.

    Raises:
        InputError: see :func:`corrected_names`.
    """
    if not correction:
        return report
    names = corrected_names([lv.level for lv in report.levels], correction)
    levels = [dataclasses.replace(lv, level=new, detected_level=lv.detected_level or lv.level)
              for lv, new in zip(report.levels, names)]
    return dataclasses.replace(report, levels=levels, names_corrected_by_user=True,
                               naming_correction=correction.describe())
