"""The ROI probe's glue in the viewer (modic_core/ui/probe.py): what the browser reports, what is shown."""
from __future__ import annotations

import math

import pytest

from modic_core.analysis.signal_probe import RoiSignal
from modic_core.ui.probe import roi_label, roi_line, roi_of_view, roi_spec

SHAPE = (5, 64, 48)


def test_a_reported_rectangle_is_read_sorted():
    assert roi_of_view({"z": 2, "x0": 30.5, "y0": 20.0, "x1": 10.0, "y1": 25.0, "n": 1}, SHAPE) == (2, (10.0, 20.0, 30.5, 25.0))


@pytest.mark.parametrize("value", [None, "x", {}, {"z": 2, "x0": 1}, {"z": "a", "x0": 1, "y0": 1, "x1": 5, "y1": 5},
                                   {"z": 5, "x0": 1, "y0": 1, "x1": 5, "y1": 5}, {"z": -1, "x0": 1, "y0": 1, "x1": 5, "y1": 5},
                                   {"z": 0, "x0": math.nan, "y0": 1, "x1": 5, "y1": 5},
                                   {"z": 0, "x0": 1, "y0": 1, "x1": 1e9, "y1": 5},
                                   {"z": 0, "x0": 1, "y0": 1, "x1": 1.5, "y1": 5}])
def test_anything_else_is_no_rectangle(value):
    assert roi_of_view(value, SHAPE) is None


def test_label_and_line_say_the_ratios_units_and_side():
    sig = RoiSignal((10.0, 20.0, 30.0, 25.0), 2, 100, "L4-L5", "upper", -1.2345, 2.5, 0.5, 0.25, 0.5012, 2.0, ())
    assert roi_label(sig) == "T1 0.50 · T2 2.00 × centre"
    line = roi_line(sig, method="zscore")
    assert "slice 3" in line and "upper vertebra's centre at L4-L5" in line and "T1 ratio 0.50" in line
    assert "mean T1 -1.234" in line or "mean T1 -1.235" in line
    assert "zscore units" in line
    spec = roi_spec(sig, {"n": 4}, method="zscore")
    assert spec["n"] == 4 and spec["ratio_t1"] == 0.5012 and spec["label"] == roi_label(sig)
    raw = RoiSignal((10.0, 20.0, 30.0, 25.0), 0, 0, "", "", None, None, None, None, None, None, ("No detected level.",))
    assert "units" not in roi_line(raw, method="nyul") and "No detected level." in roi_line(raw, method="nyul")


def test_normalized_units_for_a_rectangle_but_not_n4():
    from modic_core.datasets.synthetic import make_phantom
    from modic_core.normalization import normalize
    from modic_core.ui.probe import normalized_pair

    study = make_phantom(seed=1, shape=(3, 128, 128), spacing=(4.0, 2.0, 2.0), variation=0.0).to_study()
    pair = normalized_pair(("test-probe", False), "zscore", study, "no-such-analysis")
    assert pair is not None and (pair[0] == normalize(study.t1, "zscore").array).all()
    assert normalized_pair(("test-probe", False), "n4_zscore", study, "no-such-analysis") is None  # ~15 s: ratios only
    assert normalized_pair(("test-probe", False), "nyul", study, "no-such-analysis") is None  # no landmarks here
