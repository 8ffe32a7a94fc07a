"""A small 3D CNN that grades Modic changes (MC0/MC1/MC2) from a paired T1/T2 crop.

Input (N, 2, D, H, W) = (batch, T1/T2, slices, rows, columns). Every convolution and pooling
keeps the depth stride at 1 (kernels 3x3x3 with depth padding 1, pooling 1x2x2), so D can be 1
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
    num_classes: int = 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv3d(cin, cout, (3, 3, 3), padding=1, bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
            nn.Conv3d(cout, cout, (3, 3, 3), padding=1, bias=False),
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
            layers.append(_Block(cin, c))
            if i < len(w) - 1:
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
