"""Meso-4 and MesoInception-4 (Afchar et al., "MesoNet: a Compact Facial Video Forgery Detection Network", WIFS 2018).

MesoNet is not in timm, so it is written here with timm's contract (``forward_features`` -> maps,
``forward_head`` -> pooled or logits, ``num_features``, ``reset_classifier(0)``) so that the fusion model can
treat it exactly like a timm backbone.

The original network flattens an 8x8x16 map (256 px input) into a 1024-d vector. To keep that vector the same
size at any input size, the last map is adaptively average-pooled to 8x8 before flattening; at 256 px this is
the identity, so the parameter count of the paper (27,977 for Meso-4) is preserved exactly.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

_POOLED_GRID = 8


@functools.lru_cache(maxsize=32)
def _pool_rows(size: int, out: int) -> tuple[tuple[float, ...], ...]:
    """Rows that average the input ranges adaptive average pooling uses (plain floats: the tensor is made per call,
    so it is never an inference-mode tensor reused under autograd, and tracing for ONNX sees one constant)."""
    rows = []
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        rows.append(tuple(1.0 / (end - start) if start <= j < end else 0.0 for j in range(size)))
    return tuple(rows)


def _pool_matrix(size: int, out: int) -> torch.Tensor:
    return torch.tensor(_pool_rows(size, out))


class _ConvBlock(nn.Sequential):
    """Conv -> ReLU -> BatchNorm -> MaxPool, the MesoNet building block (Keras order: activation before BN)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, pool: int) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2),
            nn.ReLU(inplace=False),
            nn.BatchNorm2d(out_ch),
            nn.MaxPool2d(pool, pool),
        )


class _Inception(nn.Module):
    """MesoInception block: 1x1, 3x3, dilated 3x3 (d=2) and dilated 3x3 (d=3) branches, concatenated."""

    def __init__(self, in_ch: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(in_ch, a, 1), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(in_ch, b, 1), nn.ReLU(), nn.Conv2d(b, b, 3, padding=1), nn.ReLU())
        self.b3 = nn.Sequential(
            nn.Conv2d(in_ch, c, 1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=2, dilation=2), nn.ReLU()
        )
        self.b4 = nn.Sequential(
            nn.Conv2d(in_ch, d, 1), nn.ReLU(), nn.Conv2d(d, d, 3, padding=3, dilation=3), nn.ReLU()
        )
        self.out_channels = a + b + c + d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


class _MesoBase(nn.Module):
    """Shared head logic: pooled 16x8x8 -> flatten (1024) -> [Dropout -> Dense 16 -> LeakyReLU -> Dropout -> 1]."""

    features: nn.Sequential

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_features = 16 * _POOLED_GRID * _POOLED_GRID
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        """``num_classes=0`` removes the classifier so ``forward`` returns the 1024-d feature vector."""
        self.num_classes = num_classes
        if num_classes > 0:
            self.classifier: nn.Module = nn.Sequential(
                nn.Dropout(0.5),
                nn.Linear(self.num_features, 16),
                nn.LeakyReLU(0.1),
                nn.Dropout(0.5),
                nn.Linear(16, num_classes),
            )
        else:
            self.classifier = nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if x.shape[-2:] != (_POOLED_GRID, _POOLED_GRID):
            # adaptive average pooling written as two small matrix products: identical results, and exportable to
            # ONNX at any input size (ONNX has no adaptive pooling to sizes that do not divide the map)
            rows = _pool_matrix(x.shape[-2], _POOLED_GRID).to(x)
            cols = _pool_matrix(x.shape[-1], _POOLED_GRID).to(x)
            x = torch.matmul(torch.matmul(x, cols.t()).transpose(-1, -2), rows.t()).transpose(-1, -2)
        x = x.reshape(x.shape[0], -1)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class Meso4(_MesoBase):
    """Meso-4: four conv blocks (8, 8, 16, 16 channels)."""

    def __init__(self, num_classes: int = 1, in_chans: int = 3) -> None:
        features = nn.Sequential(
            _ConvBlock(in_chans, 8, 3, 2),
            _ConvBlock(8, 8, 5, 2),
            _ConvBlock(8, 16, 5, 2),
            _ConvBlock(16, 16, 5, 4),
        )
        super().__init__(num_classes)
        self.features = features


class MesoInception4(_MesoBase):
    """MesoInception-4: two inception blocks (1,4,4,2) and (2,4,4,2), then two 16-channel conv blocks."""

    def __init__(self, num_classes: int = 1, in_chans: int = 3) -> None:
        inc1 = _Inception(in_chans, 1, 4, 4, 2)
        inc2 = _Inception(inc1.out_channels, 2, 4, 4, 2)
        features = nn.Sequential(
            nn.Sequential(inc1, nn.BatchNorm2d(inc1.out_channels), nn.MaxPool2d(2, 2)),
            nn.Sequential(inc2, nn.BatchNorm2d(inc2.out_channels), nn.MaxPool2d(2, 2)),
            _ConvBlock(inc2.out_channels, 16, 5, 2),
            _ConvBlock(16, 16, 5, 4),
        )
        super().__init__(num_classes)
        self.features = features
