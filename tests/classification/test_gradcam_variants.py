"""The explanation registry (modic_core.classification.gradcam) and the fixed heat-map scale."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from modic_core.classification.crops import CropSpec
from modic_core.classification.gradcam import DEFAULT_VARIANT, VARIANTS, cam_maps, get_variant, grad_cam
from modic_core.classification.infer import Classifier, read_cam_scales
from modic_core.classification.model import ClassifierConfig, build_classifier
from modic_core.schema import CamScale, Estimate, GradcamAudit


def _model():
    torch.manual_seed(0)
    m = build_classifier(config=ClassifierConfig(widths=(4, 6, 8, 8), depth_kernel=1))
    return m.eval()


def _x(n=2):
    g = torch.Generator().manual_seed(1)
    return torch.rand((n, 2, 1, 48, 56), generator=g)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_gives_unit_maps_of_the_crop_shape_and_removes_its_hooks(name):
    model = _model()
    cam, probs = grad_cam(model, _x(), variant=name)
    assert cam.shape == (2, 1, 48, 56) and probs.shape == (2, 3)
    assert float(cam.min()) >= 0 and float(cam.max()) <= 1
    assert all(not b._forward_hooks and not b._backward_hooks for b in model.cam_blocks)
    assert all(p.grad is None for p in model.parameters())
    raw, _ = cam_maps(model, _x(), 2, variant=name)
    assert float(raw.min()) >= 0
    nz = raw.flatten(1).max(1).values > 0
    # per-level mode: each non-empty map's maximum is 1 (not inverted: the raw maximum stays the maximum)
    if nz.any():
        cam2, _ = grad_cam(model, _x(), 2, variant=name)
        assert torch.allclose(cam2.flatten(1).max(1).values[nz], torch.ones(int(nz.sum())))
        assert (cam2.flatten(1).argmax(1)[nz] == raw.flatten(1).argmax(1)[nz]).all()


def test_registry_default_and_unknown_names(monkeypatch):
    assert DEFAULT_VARIANT in VARIANTS and get_variant().name == DEFAULT_VARIANT
    monkeypatch.setenv("MODIC_GRADCAM_VARIANT", "gradcampp")
    assert get_variant().name == "gradcampp"
    with pytest.raises(ValueError, match="gradcam"):
        get_variant("nope")
    with pytest.raises(ValueError):
        grad_cam(_model(), _x(), variant=VARIANTS["gradcam"].__class__("deep", "gradcam", -9, ""))


def test_earlier_blocks_have_finer_maps():
    model = _model()
    sizes = {}
    hooks = [blk.register_forward_hook(lambda m, i, o, k=k: sizes.__setitem__(k, tuple(o.shape[-2:])))
             for k, blk in enumerate(model.cam_blocks)]
    try:
        model(_x(1))
    finally:
        for h in hooks:
            h.remove()
    n = len(model.cam_blocks)
    assert sizes[n + VARIANTS["gradcam"].block] == (12, 14)
    assert sizes[n + VARIANTS["gradcam_block2"].block] == (24, 28)
    assert sizes[n + VARIANTS["hirescam_block2"].block] == (24, 28)


def test_fixed_scale_same_raw_value_same_colour_across_levels():
    model = _model()
    x = _x(2)
    x[1] *= 3.0  # a second level with other (stronger or weaker) evidence
    raw, _ = cam_maps(model, x, 0, variant="gradcam")
    scale = float(raw.max()) * 0.8
    shown, _ = grad_cam(model, x, 0, variant="gradcam", scale=scale)
    assert torch.allclose(shown, (raw / scale).clamp(0, 1), atol=1e-6)
    # the same raw value maps to the same shown value in both levels: shown is one function of raw
    r, s = raw.flatten().numpy(), shown.flatten().numpy()
    order = np.argsort(r)
    assert np.all(np.diff(s[order]) >= -1e-6)
    per_level, _ = grad_cam(model, x, 0, variant="gradcam")
    peaks = raw.flatten(1).max(1).values
    if float(peaks.min()) > 0 and abs(float(peaks[0] - peaks[1])) > 1e-6 * float(peaks.max()):
        # per level both maxima read 1; on the fixed scale they keep their ratio (unless clipped)
        assert torch.allclose(per_level.flatten(1).max(1).values, torch.ones(2))
        fixed_peaks = shown.flatten(1).max(1).values
        assert not torch.allclose(fixed_peaks[0], fixed_peaks[1])


def _audit(sha: str) -> GradcamAudit:
    e = Estimate(value=0.5, ci_low=0.4, ci_high=0.6, display="0.5")
    return GradcamAudit(command="t", cohort={}, bands={}, variants={}, rows=[], rule="r", rule_method="zscore", chosen="gradcam",
                        reason="r", scales={"zscore": CamScale(sha256=sha, quantile=0.9, n_discs=3, values={"gradcam": 0.25})},
                        seconds=0.0, notes=[str(e.value)])


def test_classifier_reads_the_scale_of_its_own_weights_only(tmp_path: Path, monkeypatch):
    path = tmp_path / "gradcam_audit.json"
    _audit("abc").save(path)
    assert read_cam_scales(path, "zscore", "abc") == {"cam_scales": {"gradcam": 0.25}, "cam_quantile": 0.9}
    assert read_cam_scales(path, "zscore", "other") == {}
    assert read_cam_scales(path, "nyul", "abc") == {}
    assert read_cam_scales(tmp_path / "absent.json", "zscore", "abc") == {}
    path.write_text("{not json")
    assert read_cam_scales(path, "zscore", "abc") == {}

    monkeypatch.setenv("MODIC_GRADCAM_VARIANT", "gradcam")
    spec = CropSpec()
    fixed = Classifier(_model(), spec=spec, normalization="zscore", landmarks=None, device="cpu", source="m.pt", sha256="abc",
                       cam_scales={"gradcam": 0.25})
    loose = Classifier(_model(), spec=spec, normalization="zscore", landmarks=None, device="cpu", source="m.pt", sha256="abc")
    assert fixed.cam_scale == 0.25 and loose.cam_scale is None and fixed.key != loose.key
    assert "fixed scale" in fixed.heat_scale and "own maximum" in loose.heat_scale
    x = _x(2)
    _, cams = fixed.predict(x)
    raw, _ = cam_maps(fixed.model, x, None, variant="gradcam")
    assert np.allclose(cams, (raw / 0.25).clamp(0, 1).numpy(), atol=1e-6)
