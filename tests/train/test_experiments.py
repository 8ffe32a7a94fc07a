from __future__ import annotations

import numpy as np


def test_score_variants_reports_the_paired_difference_and_mc1_false_alarms():
    from modic_core.train.experiments import score_variants

    rng = np.random.default_rng(0)
    n = 200
    y = rng.choice([0, 2], size=n, p=[0.6, 0.4])
    patients = [str(i // 4) for i in range(n)]
    noisy = np.where(rng.random(n) < 0.3, 2 - y, y)  # 70 % right
    single = np.eye(3)[noisy] * 0.7 + 0.1
    better = np.eye(3)[y] * 0.7 + 0.1  # always right
    mc1 = single.copy()
    mc1[:20] = [0.1, 0.8, 0.1]  # 20 real MC0/MC2 discs called MC1
    out = score_variants(y, patients, {"single": single, "perfect": better, "mc1": mc1}, n_boot=200)
    assert out["perfect"].mc0_vs_mc2_balanced_accuracy == 1.0
    assert out["perfect"].diff_ci_low > 0  # a clearly better variant passes the adoption rule
    assert out["mc1"].mc0_mc2_called_mc1 == 20 / n
    assert out["single"].diff_to_single is None and "diff_to_single" not in out["single"].to_dict()
    assert out["single"].ci_low < out["single"].mc0_vs_mc2_balanced_accuracy < out["single"].ci_high
