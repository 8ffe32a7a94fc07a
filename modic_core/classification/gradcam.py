"""Grad-CAM (Selvaraju et al. 2017) for :class:`ModicNet3D`, in 3D.

A short own implementation: hooks are registered for one call and always removed (MONAI's
GradCAM keeps permanent hooks and its default normalizer inverts maps; pytorch-grad-cam pulls
in OpenCV). For class c: weights a_k = mean over (d, h, w) of dy_c/dA_k at the last conv block;
map = ReLU(sum_k a_k A_k), trilinearly upsampled to the crop (D, H, W) and divided by its
maximum, so values lie in [0, 1] with 1 = most important (not inverted). A map that is all zero
(no positive evidence) stays zero.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["grad_cam"]


def grad_cam(model: torch.nn.Module, x: torch.Tensor, class_idx: torch.Tensor | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM maps (N, D, H, W) in [0, 1] and probabilities (N, C) for crops x (N, 2, D, H, W).

    ``class_idx``: one class for all, one per crop, or None for each crop's predicted class.
    """
    layer = model.cam_layer
    store: dict[str, torch.Tensor] = {}

    def fwd_hook(_m, _inp, out):
        out.retain_grad()
        store["act"] = out

    h = layer.register_forward_hook(fwd_hook)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            xx = x.detach().clone().requires_grad_(False)
            logits = model(xx)
            probs = torch.softmax(logits, dim=1)
            if class_idx is None:
                idx = logits.argmax(1)
            elif isinstance(class_idx, int):
                idx = torch.full((x.shape[0],), class_idx, dtype=torch.long)
            else:
                idx = torch.as_tensor(class_idx, dtype=torch.long)
            sel = logits.gather(1, idx[:, None]).sum()
            model.zero_grad(set_to_none=True)
            sel.backward()
            act = store["act"]
            grad = act.grad
            weights = grad.mean(dim=(2, 3, 4), keepdim=True)
            cam = torch.relu((weights * act).sum(1, keepdim=True))
            cam = F.interpolate(cam, size=x.shape[2:], mode="trilinear", align_corners=False)[:, 0]
            mx = cam.flatten(1).max(1).values.clamp_min(1e-12)[:, None, None, None]
            cam = torch.where(cam.flatten(1).max(1).values[:, None, None, None] > 0, cam / mx, torch.zeros_like(cam))
    finally:
        h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return cam.detach().clamp(0, 1), probs.detach()
