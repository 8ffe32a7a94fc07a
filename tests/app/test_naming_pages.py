"""AppTest of the case viewer's "Correct level names" panel, with the analysis double of ``fakes.py``.

The double names its five regions at threshold 0.5 L1-L2 .. L5-S1 (top to bottom).
"""
from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.app.test_pages import (
    _record_deferred,
    _record_downloads,
    assert_clean,
    by_prefix,
    level_table,
    new_app,
    study_fp,
    viewer_spec,
)

pytestmark = pytest.mark.usefixtures("fake_backend")

DETECTED = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]


def names(at) -> list[str]:
    return list(level_table(at)["level"])


def labels(at) -> set[str]:
    """Level names in the figure's box labels ("L1-L2 MC0 0.44" -> "L1-L2")."""
    return {a["text"].split()[0] for a in viewer_spec(at)["figure"]["layout"]["annotations"] if " MC" in a.get("text", "")}


def notes(at) -> list[str]:
    return [i.value for i in at.info if "corrected by the user" in i.value]


def test_shift_up_down_refusal_and_reset(fake_backend, monkeypatch):
    got = _record_downloads(monkeypatch)
    deferred = _record_deferred(monkeypatch)
    at = new_app()
    sa = fake_backend.instances[-1]
    runs = (sa.detect_runs, dict(sa.classify_runs))
    before = level_table(at)
    assert names(at) == DETECTED and notes(at) == []

    by_prefix(at.button, "cv_names_up_").click().run()
    by_prefix(at.button, "cv_names_up_").click().run()
    by_prefix(at.button, "cv_names_down_").click().run()  # net: one level up
    assert_clean(at)
    shifted = ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5"]
    assert names(at) == shifted and labels(at) == set(shifted)
    assert notes(at) == ["Level names corrected by the user: all names shifted up by one level. Every download uses "
                         "these names and records the correction."]
    assert level_table(at)["P(MC0)"].tolist() == before["P(MC0)"].tolist()  # grades stay with their regions
    assert (sa.detect_runs, dict(sa.classify_runs)) == runs  # no network ran
    sid = next(k for k in deferred if k.endswith(".csv")).removeprefix("modic_").removesuffix(".csv")
    csv = pd.read_csv(io.BytesIO(deferred[f"modic_{sid}.csv"]()))
    assert list(csv["level"]) == shifted and list(csv["detected_level"]) == DETECTED
    assert csv["names_corrected_by_user"].all()
    assert not [k for k in got if k.endswith(".csv")]  # built when clicked, never on a rerun
    assert deferred[f"modic_{sid}.pdf"]().startswith(b"%PDF")  # built from the corrected report (tests/export)

    by_prefix(at.button, "cv_names_reset_").click().run()
    assert_clean(at)
    assert names(at) == DETECTED and notes(at) == []
    csv = pd.read_csv(io.BytesIO(deferred[f"modic_{sid}.csv"]()))
    assert not csv["names_corrected_by_user"].any()

    by_prefix(at.button, "cv_names_down_").click().run()  # below L5-S1: refused, names unchanged
    assert not at.exception
    assert any("cannot be shifted down by one level" in e.value for e in at.error)
    assert names(at) == DETECTED


def test_rename_one_level_and_correction_stays_with_its_study(fake_backend):
    at = new_app()
    by_prefix(at.selectbox, "cv_rename_old_").set_value("L1-L2").run()
    new = by_prefix(at.selectbox, "cv_rename_new_")
    assert "L2-L3" not in new.options and "T12-L1" in new.options  # names in use are not offered
    new.set_value("T12-L1").run()
    by_prefix(at.button, "cv_rename_").click().run()
    assert_clean(at)
    renamed = ["T12-L1", *DETECTED[1:]]
    assert names(at) == renamed and labels(at) == set(renamed)
    assert notes(at)[0].startswith("Level names corrected by the user: L1-L2 renamed to T12-L1.")

    # a name out of head-to-foot order is refused with a sentence
    by_prefix(at.selectbox, "cv_rename_old_").set_value("L3-L4").run()
    by_prefix(at.selectbox, "cv_rename_new_").set_value("T10-T11").run()
    by_prefix(at.button, "cv_rename_").click().run()
    assert any("head to foot" in e.value for e in at.error) and names(at) == renamed

    # another study starts with its detected names; coming back finds this study's correction
    first, fp = at.selectbox(key="cv_demo").value, study_fp(at)
    at.selectbox(key="cv_demo").set_value(next(c for c in at.selectbox(key="cv_demo").options
                                                if not c.startswith(first))).run()
    assert_clean(at)
    assert at.selectbox(key="cv_demo").value != first and study_fp(at) != fp
    assert notes(at) == [] and "T12-L1" not in names(at)
    at.selectbox(key="cv_demo").set_value(first).run()
    assert names(at) == renamed
