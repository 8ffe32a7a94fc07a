"""A small 3D CNN that grades Modic changes (MC0/MC1/MC2) from a paired T1/T2 crop.

Input (N, 2, D, H, W) = (batch, T1/T2, slices, rows, columns). Every convolution and pooling
keeps the depth stride at 1 (kernels kd x 3 x 3 with depth padding kd // 2, pooling 1x2x2), so D can be 1
(single-slice data) or more (3D data) with the same weights, and Grad-CAM stays per slice.

Optional auxiliary heads (``ClassifierConfig.aux_heads``, default none) put one linear layer per
auxiliary grading (e.g. Pfirrmann grade, disc narrowing) on the same pooled trunk features; they are
used only in training (multi-task) and by :meth:`ModicNet3D.forward_aux`. ``forward`` always returns
the Modic logits alone, and a model without aux heads has exactly the state dict it had before.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ClassifierConfig", "ModicNet3D", "build_classifier"]


@dataclass(frozen=True)
class ClassifierConfig:
    widths: tuple[int, ...] = (12, 24, 48, 64)
    dropout: float = 0.3
    # Depth extent of the kernels. With D = 1 the outer taps of a 3-deep kernel only ever see
    # zero padding, so D = 1 models use 1 (same function, 3x less compute); 3D models use 3.
    depth_kernel: int = 3
    # In-plane 2x poolings between blocks (after the first ``pools`` blocks). Two keep the last
    # block -- the Grad-CAM layer -- at 1/4 of the crop (12 x 14 for the shipped 48 x 56 crops), so maps can tell
    # the upper endplate from the lower one; three would leave 7 x 8.
    pools: int = 2
    num_classes: int = 3
    # (name, number of classes) of each auxiliary head on the pooled trunk features; () = none (shipped)
    aux_heads: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.aux_heads:  # left out when empty: cards and payloads written before it read the same
            d.pop("aux_heads")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierConfig":
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        if "aux_heads" in kw:
            kw["aux_heads"] = tuple((str(n), int(c)) for n, c in kw["aux_heads"])
        return cls(**kw)


class _Conv(nn.Conv3d):
    """A Conv3d that runs as Conv2d over (N*D) slices when its depth extent is 1.

    Same weights and same result; PyTorch's CPU Conv3d is ~2.5x slower than Conv2d for the
    identical (1, 3, 3) computation, and D = 1 models are the shipped ones.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size[0] != 1 or self.stride[0] != 1:
            return super().forward(x)
        n, c, d, h, w = x.shape
        x2 = x.permute(0, 2, 1, 3, 4).reshape(n * d, c, h, w)
        y = F.conv2d(x2, self.weight[:, :, 0], self.bias, self.stride[1:], self.padding[1:], self.dilation[1:], self.groups)
        return y.reshape(n, d, y.shape[1], y.shape[2], y.shape[3]).permute(0, 2, 1, 3, 4)


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int, kd: int = 3) -> None:
        k, pad = (kd, 3, 3), (kd // 2, 1, 1)
        super().__init__(
            _Conv(cin, cout, k, padding=pad, bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
            _Conv(cout, cout, k, padding=pad, bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
        )


class ModicNet3D(nn.Module):
    """Four conv blocks (the last is the Grad-CAM layer ``self.features[-1]``), global pooling, linear head."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        w = config.widths
        layers: list[nn.Module] = []
        cin = 2
        for i, c in enumerate(w):
            layers.append(_Block(cin, c, config.depth_kernel))
            if i < min(config.pools, len(w) - 1):
                layers.append(nn.MaxPool3d((1, 2, 2)))
            cin = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(cin, config.num_classes))
        # created after the main head, so the trunk and head start from the same weights as without them
        self.aux = nn.ModuleDict({name: nn.Linear(cin, n) for name, n in config.aux_heads}) if config.aux_heads else None
        self.config = config

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-1]

    @property
    def cam_blocks(self) -> list[nn.Module]:
        """The conv blocks, first to last (CAM variants pick one; ``cam_blocks[-1]`` is ``cam_layer``)."""
        return [m for m in self.features if isinstance(m, _Block)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Modic logits (N, num_classes) of crops (N, 2, D, H, W)."""
        f = self.features(x)
        return self.head(f.mean(dim=(2, 3, 4)))

    def forward_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Modic logits (N, num_classes) and each auxiliary head's logits (N, classes of that head);
        the aux heads read the pooled trunk features directly (no dropout)."""
        pooled = self.features(x).mean(dim=(2, 3, 4))
        logits = self.head(pooled)
        if self.aux is None:
            return logits, {}
        return logits, {name: layer(pooled) for name, layer in self.aux.items()}


def build_classifier(*, config: ClassifierConfig | None = None) -> ModicNet3D:
    return ModicNet3D(config or ClassifierConfig())
