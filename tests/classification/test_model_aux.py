"""Optional auxiliary heads of the grading network (multi-task training only)."""
from __future__ import annotations

import torch

from modic_core.classification.model import ClassifierConfig, build_classifier

HEADS = (("pfirrmann", 5), ("disc_narrowing", 2))


def test_aux_heads_give_one_output_per_head_and_leave_forward_alone():
    torch.manual_seed(0)
    m = build_classifier(config=ClassifierConfig(widths=(4, 6), pools=1, depth_kernel=1, aux_heads=HEADS)).eval()
    x = torch.randn(3, 2, 1, 16, 20)
    logits, aux = m.forward_aux(x)
    assert logits.shape == (3, 3)
    assert {k: tuple(v.shape) for k, v in aux.items()} == {"pfirrmann": (3, 5), "disc_narrowing": (3, 2)}
    assert torch.allclose(m(x), logits)  # forward is the Modic head alone


def test_without_aux_heads_the_state_dict_and_config_are_the_single_head_ones():
    base = ClassifierConfig(widths=(4, 6), pools=1, depth_kernel=1)
    assert "aux_heads" not in base.to_dict()  # cards and payloads written before the option read the same
    torch.manual_seed(0)
    single = build_classifier(config=base).eval()
    assert not any(k.startswith("aux") for k in single.state_dict())
    assert single.forward_aux(torch.zeros(1, 2, 1, 8, 8))[1] == {}
    torch.manual_seed(0)
    multi = build_classifier(config=ClassifierConfig(widths=(4, 6), pools=1, depth_kernel=1, aux_heads=HEADS))
    sd = multi.state_dict()
    assert {k for k in sd if k.startswith("aux.")} == {"aux.pfirrmann.weight", "aux.pfirrmann.bias",
                                                       "aux.disc_narrowing.weight", "aux.disc_narrowing.bias"}
    for k, v in single.state_dict().items():  # heads are created last: same trunk and main head at the same seed
        assert torch.equal(v, sd[k]), k
    # a single-head state dict loads into a single-head model built from its (JSON round-tripped) config
    again = build_classifier(config=ClassifierConfig.from_dict(base.to_dict()))
    again.load_state_dict(single.state_dict())


def test_aux_config_round_trips_through_json_lists():
    cfg = ClassifierConfig(aux_heads=HEADS)
    d = cfg.to_dict()
    d["aux_heads"] = [list(h) for h in d["aux_heads"]]  # as JSON reads it back
    assert ClassifierConfig.from_dict(d) == cfg


def test_the_shipped_zscore_weights_still_load():
    from modic_core.classification.infer import load_classifier

    clf = load_classifier("zscore")
    assert not any(k.startswith("aux") for k in clf.model.state_dict())
