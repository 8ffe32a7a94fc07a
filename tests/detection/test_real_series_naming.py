"""The shipped detector on a real series from outside the training data (issue #13: the lowest disc
of a real multi-slice study from another scanner is named L5-S1).

The fixture is a 15-slice sagittal T1 TSE series of the Sudirman lumbar-spine dataset (Siemens
1.5 T, another site than SPIDER; ``tests/fixtures/dicom_t1_sag/CREDIT.txt``). Looked at by eye: seven
discs from T11-T12 down, the sacrum below the lowest. The check needs the shipped detector weights.
"""
from __future__ import annotations

from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dicom_t1_sag"


def _shipped_detector() -> bool:
    from modic_core.analysis.analyze import models_available

    return bool(models_available().get("detector"))


@pytest.mark.skipif(not _shipped_detector(), reason="needs the shipped detector weights (weights/detector.pt)")
def test_lowest_disc_of_a_real_series_from_another_scanner_is_l5_s1():
    from modic_core.analysis.analyze import get_analysis
    from modic_core.io.sources import load_series
    from modic_core.ui.viewonly import single_series_study

    study = single_series_study(load_series(FIXTURE), label="T1")
    detections = get_analysis(study).detections()
    levels = list(detections.filter(0.5))
    naming = detections.naming()
    assert not naming.uncertain, naming.reasons  # the sacral anchor was found
    names = [lv.level for lv in levels]
    assert names[-1] == "L5-S1" and len(names) == len(set(names)) >= 5
    centres = [(lv.box[1] + lv.box[3]) / 2 for lv in levels]
    assert centres == sorted(centres)  # listed head to foot
    assert max(lv.anchor or 0.0 for lv in levels) == pytest.approx(levels[-1].anchor)  # the anchor is the lowest disc
