"""The intensity robustness check (modic_core.train.robustness) on a seeded phantom with a shipped model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from modic_core.schema import Estimate, RobustnessCheck
from modic_core.train import robustness as rb


@pytest.fixture(scope="module")
def rows():
    from modic_core.classification import load_classifier

    cases, info = rb.phantom_cases(1, 3, (3, 144, 144), pixel_mm=2.0)
    assert info["n_levels"] == len(cases[0].regions) == 6 and cases[0].t1.array.max() == 4095
    return rb.graded_rows(cases, {"zscore": load_classifier("zscore")}, seed=0, n_boot=50, log=lambda m: None)


def test_one_row_per_transform_with_agreement_and_saturation(rows):
    assert [r.transform for r in rows] == list(rb.TRANSFORMS)
    for r in rows:
        assert 0.0 <= r.agreement.value <= 1.0 and r.agreement.ci_low <= r.agreement.value <= r.agreement.ci_high
        assert r.n_levels == 6 and r.n_studies == 1
        assert (r.saturation is not None) == r.transform.startswith("export")
    sat = {r.transform: r.saturation for r in rows if r.saturation is not None}
    assert sat["export_sat0"] < 0.01 and abs(sat["export_sat20"] - 0.2) < 0.02


def test_zscore_ignores_a_monotone_affine_rescale(rows):
    r = next(r for r in rows if r.transform == "rescale_x16")
    assert r.agreement.value == 1.0 and r.mean_abs_change_p < 1e-3


def test_breaks_and_document_round_trip(rows):
    fake = [*rows]
    fake[0] = type(rows[0])(**{**rows[0].__dict__, "agreement": Estimate(value=0.5, ci_low=0.3, ci_high=0.7, n=6)})
    br = rb.below_target(fake, 0.9)
    assert br[0]["transform"] == "export_sat0" and br[0]["below_target_with_ci"] is True
    doc = RobustnessCheck(command="x", target=0.9, seed=0, sources={}, transforms={k: v[0] for k, v in rb.TRANSFORMS.items()},
                          rows=fake, breaks=br, notes=rb.summary_notes(fake, 0.9, {}), seconds=1.0)
    back = RobustnessCheck.from_dict(json.loads(json.dumps(doc.to_dict())))
    assert back == doc and "below 90% under export_sat0" in doc.notes[0]


def test_patient_bootstrap_ci_resamples_patients_not_levels():
    agree = np.repeat([True, False], 20)
    many = rb.agreement_estimate(agree, np.arange(40).astype(str), n_boot=500, seed=0)  # every level its own patient
    two = rb.agreement_estimate(agree, np.repeat(["a", "b"], 20), n_boot=500, seed=0)  # one patient agrees on all, one on none
    assert many.value == two.value == 0.5
    assert (two.ci_low, two.ci_high) == (0.0, 1.0) and 0.25 < many.ci_low < 0.5 < many.ci_high < 0.75
