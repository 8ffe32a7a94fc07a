"""The classifier trains with D = 1 and D > 1, and Grad-CAM looks at the lesion (synthetic phantoms)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from modic_core.classification.crops import CropSpec, extract_crops
from modic_core.classification.gradcam import grad_cam
from modic_core.classification.model import ClassifierConfig
from modic_core.normalization.methods import normalize
from modic_core.datasets.synthetic import make_phantom, make_phantom_2d
from modic_core.schema import ClassifierTrainingConfig
from modic_core.train.classifier import DiscRecord, StudyData, predict, train_model

LEVELS = ["L2-L3", "L3-L4", "L4-L5"]


def _phantom_items(seeds, *, depth: int):
    rng = np.random.default_rng(seeds[0])
    items, truth = [], []
    for s in seeds:
        modic = {lv: (2, str(rng.choice(["upper", "lower"]))) for lv in LEVELS if rng.random() < 0.5}
        if depth == 1:
            ph = make_phantom_2d(seed=s, shape=(192, 192), spacing=(1.2, 1.2), modic=modic, degenerate_discs=False)
        else:
            ph = make_phantom(seed=s, shape=(5, 160, 160), spacing=(4.0, 1.4, 1.4), modic=modic)
        sd = StudyData(f"ph{s}", ph.t1, ph.t2, "synthetic", 1.5)
        for lv in ph.levels:
            if lv.level in LEVELS:
                zc = ph.t1.shape[0] // 2
                sd.discs.append(DiscRecord(sd.study_id, lv.level, lv.modic, lv.box, zc, "ground truth"))
                truth.append((sd, lv))
        t1 = normalize(ph.t1, "zscore").array
        t2 = normalize(ph.t2, "zscore").array
        items.append((sd, t1, t2))
    return items, truth


@pytest.fixture(scope="module")
def trained_2d():
    torch.manual_seed(0)
    spec = CropSpec(height=48, width=48, depth=1, pixel_mm=1.0)
    items, _ = _phantom_items(list(range(40)), depth=1)
    cfg = ClassifierTrainingConfig(epochs=20, synthetic_mc1=0.0, crop=spec.to_dict(),
                                   model=ClassifierConfig(widths=(8, 16, 32, 32), depth_kernel=1).to_dict())
    model = train_model(items, cfg=cfg, seed=0, desc="phantom")
    return model, spec


def test_d1_model_learns_phantom_lesions(trained_2d):
    model, spec = trained_2d
    items, truth = _phantom_items(list(range(100, 110)), depth=1)
    p = predict(model, items, spec)
    y = np.array([lv.modic for _, lv in truth])
    acc = ((p.argmax(1) == y)).mean()
    assert p.shape == (len(y), 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert acc >= 0.8, acc


def _mc2_endplate_crops(spec):
    """(study, disc, label, crop) of every held-out 2D phantom disc with an MC2 lesion at one endplate."""
    items, truth = _phantom_items(list(range(200, 212)), depth=1)
    for sd, t1, t2 in items:
        for d in sd.discs:
            lv = next(l for s2, l in truth if s2 is sd and l.level == d.level)
            if lv.modic == 2 and lv.endplate in ("upper", "lower"):
                yield sd, d, lv, extract_crops(t1, t2, np.array([d.box]), [d.z_center], sd.t1.spacing[1:], spec)


def test_gradcam_mass_lies_beside_the_lesion_endplate(trained_2d):
    model, spec = trained_2d
    shares = []
    for _, _, lv, x in _mc2_endplate_crops(spec):
        cam, probs = grad_cam(model, x, 2)
        assert cam.shape == (1, 1, 48, 48) and float(cam.min()) >= 0 and float(cam.max()) <= 1
        h = cam[0, 0].numpy()
        upper = h[:24].sum() / max(h.sum(), 1e-9)
        share = upper if lv.endplate == "upper" else 1 - upper
        shares.append(share)
    shares = np.array(shares)
    assert len(shares) >= 5
    # most of the MC2 heatmap's mass lies in the lesion endplate's half, case by case and on average
    assert (shares > 0.5).mean() >= 0.75, shares.round(2)
    assert shares.mean() > 0.55, shares.round(2)


def test_d3_model_trains_on_3d_phantoms():
    spec = CropSpec(height=40, width=40, depth=3, pixel_mm=1.4)
    items, truth = _phantom_items(list(range(6)), depth=3)
    cfg = ClassifierTrainingConfig(epochs=2, synthetic_mc1=0.0, crop=spec.to_dict(),
                                   model=ClassifierConfig(widths=(8, 8, 16, 16), depth_kernel=3).to_dict())
    model = train_model(items, cfg=cfg, seed=0, desc="3d")
    p = predict(model, items, spec)
    assert p.shape == (len(truth), 3)
    x = extract_crops(items[0][1], items[0][2], np.array([d.box for d in items[0][0].discs]), [2] * len(items[0][0].discs),
                      items[0][0].t1.spacing[1:], spec)
    cam, _ = grad_cam(model, x)
    assert cam.shape == (len(items[0][0].discs), 3, 40, 40)


def _phantom_band_shares(trained_2d, variant):
    """Per phantom MC2 disc: (mass share in the lesion's marrow band, in the other marrow band, in the disc band,
    lesion band denser than the disc band per pixel)."""
    from modic_core.classification.bands import band_masks
    from modic_core.classification.gradcam import cam_maps

    model, spec = trained_2d
    out = []
    for sd, d, lv, x in _mc2_endplate_crops(spec):
        raw, _ = cam_maps(model, x, 2, variant=variant)
        h = raw[0, 0].numpy()
        b = band_masks(d.box, sd.t1.spacing[1:], spec)
        les, other = (b.upper, b.lower) if lv.endplate == "upper" else (b.lower, b.upper)
        total = max(float(h.sum()), 1e-12)
        out.append((h[les].sum() / total, h[other].sum() / total, h[b.disc].sum() / total,
                    float(h[les].mean() > h[b.disc].mean())))
    return np.array(out)


@pytest.mark.parametrize("variant", ["gradcam", "gradcam_block3", "gradcam_block2", "gradcampp", "hirescam_block2"])
def test_every_variant_prefers_the_lesion_marrow_band_to_the_other_one(trained_2d, variant):
    r = _phantom_band_shares(trained_2d, variant)
    assert len(r) >= 5
    assert (r[:, 0] > r[:, 1]).mean() >= 0.75, r.round(2)


def test_high_resolution_variant_puts_most_mass_in_the_lesion_marrow_band(trained_2d):
    """At half resolution the map separates the marrow band from the disc: the band beside the lesion holds
    more mass than the disc band and the other band, and is denser than the disc, on most phantom discs."""
    r = _phantom_band_shares(trained_2d, "gradcam_block2")
    assert (r[:, 0] > r[:, 2]).mean() >= 0.75 and (r[:, 0] > r[:, 1]).mean() >= 0.75, r.round(2)
    assert r[:, 3].mean() >= 0.75 and r[:, 0].mean() > 0.4, r.round(2)
