"""The Grad-CAM audit's rows and its choice rule (modic_core.train.gradcam_audit), on made-up shares."""
from __future__ import annotations

import numpy as np

from modic_core.train.gradcam_audit import Disc, choose_variant, share_rows


def _discs():
    return [Disc(f"p{i // 2}", "L4-L5", 2 if i % 3 else 0, (0, 0, 10, 10), 0, (1.0, 1.0)) for i in range(12)]


def _shares(marrow: float, disc: float, denser: float):
    return {"marrow": marrow, "disc": disc, "outside": 1 - marrow - disc, "marrow_denser": denser}


def test_rows_per_group_and_the_rule_prefers_marrow_dense_maps():
    discs = _discs()
    pred = np.array([2] * len(discs))
    a = share_rows("zscore", "gradcam", discs, [_shares(0.5, 0.3, 0.0) for _ in discs], pred, n_boot=50)
    b = share_rows("zscore", "gradcampp", discs, [_shares(0.4, 0.1, 1.0) for _ in discs[:-1]] + [None], pred, n_boot=50)
    mc2 = next(r for r in b if r.group == "MC2")
    assert mc2.n_discs == 8 and mc2.n_empty == 1 and mc2.marrow_denser.value == 1.0 and mc2.predicted_mc2 == 1.0
    assert mc2.marrow_over_disc.ci_low <= mc2.marrow_over_disc.value <= mc2.marrow_over_disc.ci_high
    assert next(r for r in a if r.group == "MC0").n_discs == 4
    # gradcam has more marrow mass, but gradcampp is denser in the marrow on more MC2 discs: gradcampp wins
    assert choose_variant(a + b, "zscore")[0] == "gradcampp"
    # a tie on density goes to the larger marrow share of the mass
    c = share_rows("zscore", "gradcam_block3", discs, [_shares(0.6, 0.1, 1.0) for _ in discs], pred, n_boot=50)
    assert choose_variant(b + c, "zscore")[0] == "gradcam_block3"
