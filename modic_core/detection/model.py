"""A light Faster R-CNN for intervertebral regions in one sagittal slice.

The backbone is a small residual CNN with a feature pyramid (strides 8, 16, 32), trained from
scratch (nothing can be downloaded). Input: one greyscale slice (1, rows, columns) resampled to
1.0 mm pixels with the detector's own fixed intensity normalization
(:mod:`.preprocess`), independent of the classifier's normalization method.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.models.detection.faster_rcnn import TwoMLPHead, FastRCNNPredictor

__all__ = ["DetectorConfig", "build_detector", "TinyBackbone"]


@dataclass(frozen=True)
class DetectorConfig:
    """Architecture settings saved with the weights."""

    widths: tuple[int, ...] = (24, 48, 96, 160)
    fpn_channels: int = 96
    anchor_sizes: tuple[int, ...] = (16, 32, 64, 128)
    aspect_ratios: tuple[float, ...] = (0.35, 0.55, 0.8)
    #: background + intervertebral region (+ the L5-S1 region, the sacral anchor of the level count,
    #: as its own class when 3; weights trained before the anchor class have 2)
    num_classes: int = 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DetectorConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _block(cin: int, cout: int, stride: int) -> nn.Module:
    return _Res(cin, cout, stride)


class _Res(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if (stride != 1 or cin != cout)
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + self.skip(x))


class TinyBackbone(nn.Module):
    """Residual CNN, outputs FPN features at strides 8, 16, 32 plus a pooled level (64)."""

    def __init__(self, widths: tuple[int, ...], fpn_channels: int) -> None:
        super().__init__()
        w = widths
        self.stem = nn.Sequential(
            nn.Conv2d(1, w[0], 3, 2, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True),
        )  # stride 2
        self.s1 = nn.Sequential(_block(w[0], w[0], 2), _block(w[0], w[0], 1))  # stride 4
        self.s2 = nn.Sequential(_block(w[0], w[1], 2), _block(w[1], w[1], 1))  # 8
        self.s3 = nn.Sequential(_block(w[1], w[2], 2), _block(w[2], w[2], 1))  # 16
        self.s4 = nn.Sequential(_block(w[2], w[3], 2), _block(w[3], w[3], 1))  # 32
        # FPN over strides 8, 16, 32 (+ a max-pooled 64): regions are >= ~20 px on the 1 mm grid,
        # and a stride-4 level would double the CPU cost for nothing.
        self.fpn = FeaturePyramidNetwork([w[1], w[2], w[3]], fpn_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = fpn_channels

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        x = self.stem(x)
        f1 = self.s1(x)
        f2 = self.s2(f1)
        f3 = self.s3(f2)
        f4 = self.s4(f3)
        return self.fpn(OrderedDict([("0", f2), ("1", f3), ("2", f4)]))


def build_detector(*, config: DetectorConfig | None = None) -> FasterRCNN:
    """Faster R-CNN with :class:`TinyBackbone`; no pretrained weights (nothing is downloaded)."""
    cfg = config or DetectorConfig()
    backbone = TinyBackbone(cfg.widths, cfg.fpn_channels)
    n_levels = 4  # three FPN maps + max-pooled
    sizes = tuple((s,) for s in cfg.anchor_sizes) + ((cfg.anchor_sizes[-1] * 2,),)
    sizes = sizes[:n_levels]
    anchors = AnchorGenerator(sizes=sizes, aspect_ratios=(cfg.aspect_ratios,) * n_levels)
    roi_pool = MultiScaleRoIAlign(featmap_names=["0", "1", "2"], output_size=7, sampling_ratio=2)
    rep = 256
    box_head = TwoMLPHead(cfg.fpn_channels * 7 * 7, rep)
    predictor = FastRCNNPredictor(rep, cfg.num_classes)
    model = FasterRCNN(
        backbone,
        num_classes=None,
        min_size=320,  # unused: resizing is disabled below
        max_size=1333,
        # prepare_slice() already maps intensities to [0, 1]; this centres them.
        image_mean=[0.5],
        image_std=[0.25],
        rpn_anchor_generator=anchors,
        box_roi_pool=roi_pool,
        box_head=box_head,
        box_predictor=predictor,
        rpn_pre_nms_top_n_train=1000,
        rpn_post_nms_top_n_train=500,
        rpn_pre_nms_top_n_test=500,
        rpn_post_nms_top_n_test=200,
        box_batch_size_per_image=128,
        box_nms_thresh=0.3,
        box_score_thresh=0.01,
        box_detections_per_img=20,
    )
    # Inputs are already on the detector's fixed mm grid (preprocess.to_detector_grid): no resizing.
    model.transform.resize = _no_resize  # type: ignore[method-assign]
    return model


def _no_resize(image, target=None):
    return image, target
