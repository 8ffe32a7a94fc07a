"""A small 3D CNN that grades Modic changes (MC0/MC1/MC2) from a paired T1/T2 crop.

Input (N, 2, D, H, W) = (batch, T1/T2, slices, rows, columns). Every convolution and pooling
keeps the depth stride at 1 (kernels kd x 3 x 3 with depth padding kd // 2, pooling 1x2x2), so D can be 1
(single-slice data) or more (3D data) with the same weights, and Grad-CAM stays per slice.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["ClassifierConfig", "ModicNet3D", "build_classifier"]


@dataclass(frozen=True)
class ClassifierConfig:
    widths: tuple[int, ...] = (16, 32, 64, 96)
    dropout: float = 0.3
    # Depth extent of the kernels. With D = 1 the outer taps of a 3-deep kernel only ever see
    # zero padding, so D = 1 models use 1 (same function, 3x less compute); 3D models use 3.
    depth_kernel: int = 3
    # In-plane 2x poolings between blocks (after the first ``pools`` blocks). Two keep the last
    # block -- the Grad-CAM layer -- at 1/4 of the crop (14 x 16 for 56 x 64), so maps can tell
    # the upper endplate from the lower one; three would leave 7 x 8.
    pools: int = 2
    num_classes: int = 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int, kd: int = 3) -> None:
        k, pad = (kd, 3, 3), (kd // 2, 1, 1)
        super().__init__(
            nn.Conv3d(cin, cout, k, padding=pad, bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
            nn.Conv3d(cout, cout, k, padding=pad, bias=False),
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
        self.config = config

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return self.head(f.mean(dim=(2, 3, 4)))


def build_classifier(*, config: ClassifierConfig | None = None) -> ModicNet3D:
    return ModicNet3D(config or ClassifierConfig())
