"""Class-activation maps for :class:`ModicNet3D`, in 3D: Grad-CAM, Grad-CAM++ and HiResCAM at a chosen block.

A short own implementation: hooks are registered for one call and always removed (MONAI's
GradCAM keeps permanent hooks and its default normalizer inverts maps; pytorch-grad-cam pulls
in OpenCV). For class c and the activations A_k (N, K, d, h, w) of one conv block with gradients
g_k = dy_c/dA_k:

- ``gradcam`` (Selvaraju et al. 2017): weights a_k = mean over (d, h, w) of g_k; map = ReLU(sum_k a_k A_k);
- ``gradcampp`` (Chattopadhay et al. 2018): a_k = sum over (d, h, w) of alpha * ReLU(g_k) with
  alpha = g^2 / (2 g^2 + sum(A_k) g^3) (the usual closed form);
- ``hirescam`` (Draelos & Carin 2020): map = ReLU(sum_k g_k * A_k), element-wise (no averaging). At the
  last block it equals Grad-CAM here (global average pooling then a linear head: g_k is constant
  over positions), so it is registered at an earlier block only.

Each map is trilinearly upsampled to the crop (D, H, W). :func:`cam_maps` returns the raw maps
(class-evidence units of that variant and model, >= 0); :func:`grad_cam` divides them by a fixed
reference ``scale`` (the same for every level and study; see ``weights/gradcam_audit.json``) and
clips to [0, 1], or, without a reference, by each map's own maximum. 1 = most important (never
inverted); a map that is all zero (no positive evidence) stays zero.

:data:`VARIANTS` is the registry: name -> :class:`CamVariant` (method and block, counted from the
last). :data:`DEFAULT_VARIANT` is the one the app ships, chosen by ``python -m modic_core.train.gradcam_audit``
(the rule is in its JSON and the README).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from modic_core import settings

__all__ = ["CamVariant", "VARIANTS", "DEFAULT_VARIANT", "cam_maps", "get_variant", "grad_cam"]


@dataclass(frozen=True)
class CamVariant:
    """One explanation: ``method`` ("gradcam", "gradcampp", "hirescam") at conv block ``block`` (-1 = last)."""

    name: str
    method: str
    block: int
    description: str


VARIANTS: dict[str, CamVariant] = {v.name: v for v in (
    CamVariant("gradcam", "gradcam", -1, "Grad-CAM at the last conv block (1/4 of the crop: 12 x 14 for 48 x 56 crops)"),
    CamVariant("gradcam_block3", "gradcam", -2, "Grad-CAM at the block before last (same 1/4 resolution, earlier features)"),
    CamVariant("gradcam_block2", "gradcam", -3, "Grad-CAM at the second block (1/2 of the crop: 24 x 28), higher resolution"),
    CamVariant("gradcampp", "gradcampp", -1, "Grad-CAM++ at the last conv block"),
    CamVariant("hirescam_block2", "hirescam", -3, "HiResCAM (element-wise gradient x activation) at the second block (1/2 of the crop)"),
)}
DEFAULT_VARIANT = settings.DEFAULT_GRADCAM_VARIANT
assert DEFAULT_VARIANT in VARIANTS


def get_variant(name: str | None = None) -> CamVariant:
    """The registry entry ``name`` (None: :func:`modic_core.settings.gradcam_variant`); ValueError naming the choices."""
    name = name or settings.gradcam_variant()
    if name not in VARIANTS:
        raise ValueError(f"Unknown Grad-CAM variant {name!r}; choose one of {', '.join(VARIANTS)}.")
    return VARIANTS[name]


def _block(model: torch.nn.Module, block: int) -> torch.nn.Module:
    blocks = list(getattr(model, "cam_blocks", None) or [model.cam_layer])
    if not -len(blocks) <= block < len(blocks):
        raise ValueError(f"this model has {len(blocks)} conv blocks; block {block} does not exist")
    return blocks[block]


def _combine(method: str, act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Raw map (N, 1, d, h, w) >= 0 from activations and gradients (N, K, d, h, w)."""
    if method == "gradcam":
        w = grad.mean(dim=(2, 3, 4), keepdim=True)
        return torch.relu((w * act).sum(1, keepdim=True))
    if method == "gradcampp":
        g2, g3 = grad.pow(2), grad.pow(3)
        denom = 2 * g2 + act.sum(dim=(2, 3, 4), keepdim=True) * g3
        alpha = torch.where(grad != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(grad))
        w = (alpha * torch.relu(grad)).sum(dim=(2, 3, 4), keepdim=True)
        return torch.relu((w * act).sum(1, keepdim=True))
    if method == "hirescam":
        return torch.relu((grad * act).sum(1, keepdim=True))
    raise ValueError(f"unknown CAM method {method!r}")


def cam_maps(model: torch.nn.Module, x: torch.Tensor, class_idx: torch.Tensor | int | None = None, *,
             variant: str | CamVariant | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw maps (N, D, H, W) >= 0 and probabilities (N, C) for crops x (N, 2, D, H, W).

    ``class_idx``: one class for all, one per crop, or None for each crop's predicted class.
    ``variant``: a :data:`VARIANTS` name or entry (None: :func:`get_variant`'s default).
    """
    v = variant if isinstance(variant, CamVariant) else get_variant(variant)
    layer = _block(model, v.block)
    store: dict[str, torch.Tensor] = {}

    def fwd_hook(_m, _inp, out):
        out.retain_grad()
        store["act"] = out

    h = layer.register_forward_hook(fwd_hook)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model(x.detach().clone())
            probs = torch.softmax(logits, dim=1)
            if class_idx is None:
                idx = logits.argmax(1)
            elif isinstance(class_idx, int):
                idx = torch.full((x.shape[0],), class_idx, dtype=torch.long, device=logits.device)
            else:
                idx = torch.as_tensor(class_idx, dtype=torch.long, device=logits.device)
            sel = logits.gather(1, idx[:, None]).sum()
            model.zero_grad(set_to_none=True)
            sel.backward()
            act = store["act"]
            cam = _combine(v.method, act.detach(), act.grad.detach())
            cam = F.interpolate(cam, size=x.shape[2:], mode="trilinear", align_corners=False)[:, 0]
    finally:
        h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return cam.detach().clamp_min(0), probs.detach()


def grad_cam(model: torch.nn.Module, x: torch.Tensor, class_idx: torch.Tensor | int | None = None, *,
             variant: str | CamVariant | None = None, scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps (N, D, H, W) in [0, 1] and probabilities (N, C) for crops x (N, 2, D, H, W).

    ``scale``: the raw value shown as 1 (a fixed reference: same raw value, same shade in every level
    and study; larger values clip at 1). None: each map divided by its own maximum.
    """
    cam, probs = cam_maps(model, x, class_idx, variant=variant)
    if scale is not None:
        if not scale > 0:
            raise ValueError(f"the Grad-CAM scale must be positive, got {scale!r}")
        return (cam / float(scale)).clamp(0, 1), probs
    mx = cam.flatten(1).max(1).values[:, None, None, None]
    cam = torch.where(mx > 0, cam / mx.clamp_min(1e-12), torch.zeros_like(cam))
    return cam.clamp(0, 1), probs
