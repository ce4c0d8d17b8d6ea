"""Deepfake detection by feature-level fusion of CNNs: faces found by MediaPipe, scored by a fusion of backbones,
explained by Grad-CAM.

    from detector import Detector
    result = Detector.from_pretrained().analyze_image("photo.jpg", explain=True)

The names below are imported on first use, so ``python -m detector --help`` answers without loading PyTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Detector": "api", "REGISTRY": "backbones", "list_backbones": "backbones", "Preprocessing": "config",
    "CheckpointError": "errors", "ConfigError": "errors", "DetectorError": "errors", "InputError": "errors",
    "OfflineError": "errors", "FusionDetector": "model", "FaceResult": "results", "ImageResult": "results",
    "Track": "results", "VideoResult": "results",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'detector' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
