"""Grad-CAM evidence: what each backbone of the fusion looked at when it scored a face as fake.

For each backbone, pytorch-grad-cam's ``GradCAM`` runs at the layer declared in the registry with the fake logit
as target (``BinaryClassifierOutputTarget(1)``). The fused map is the mean of the per-backbone maps, renormalised,
so regions that several networks agree on stand out. Maps are ``(S, S)`` float32 in [0, 1] at crop size. Hooks are
released after every call (GradCAM is used as a context manager).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from .model import FusionDetector

FUSED = "fused"


def gradcam_maps(model: FusionDetector, batch: torch.Tensor) -> list[dict[str, np.ndarray]]:
    """Per-face dict ``{backbone name: map, ..., "fused": map}`` for a preprocessed ``(B, 3, S, S)`` batch."""
    # imported here: grad-cam pulls in OpenCV and matplotlib, which scoring and training never need
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

    model.eval()
    batch = batch.detach().float().contiguous().requires_grad_(True)
    targets = [BinaryClassifierOutputTarget(1) for _ in range(batch.shape[0])]
    per_backbone: dict[str, np.ndarray] = {}
    with torch.enable_grad():
        for name, layer in zip(model.backbone_names, model.cam_layers()):
            with GradCAM(model=model, target_layers=[layer]) as cam:
                maps = cam(input_tensor=batch, targets=targets)
            per_backbone[name] = np.nan_to_num(maps.astype(np.float32))
    results = []
    for i in range(batch.shape[0]):
        item = {name: _unit(maps[i]) for name, maps in per_backbone.items()}
        item[FUSED] = _unit(np.mean(np.stack(list(item.values())), axis=0))
        results.append(item)
    return results


def _unit(m: np.ndarray) -> np.ndarray:
    m = m.astype(np.float32)
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def overlay(crop_rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Heatmap (jet colours) over the face crop, uint8 RGB of the crop's size."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    if heatmap.shape != crop_rgb.shape[:2]:
        import cv2

        heatmap = cv2.resize(heatmap, (crop_rgb.shape[1], crop_rgb.shape[0]))
    return show_cam_on_image(crop_rgb.astype(np.float32) / 255.0, heatmap, use_rgb=True, image_weight=1.0 - alpha)
