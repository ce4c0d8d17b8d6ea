import numpy as np
import pytest
import torch

from detector.api import Detector
from detector.explain import FUSED, gradcam_maps, overlay
from detector.model import FusionDetector


def _module_hooks(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(getattr(m, "_forward_pre_hooks", {}))
               for m in model.modules())


@pytest.mark.parametrize("backbones", [["resnet18", "meso4"], ["densenet121", "mesoinception4"]])
def test_gradcam_for_every_backbone_of_a_pair(backbones):
    torch.manual_seed(0)
    model = FusionDetector(backbones, preprocessing={"img_size": 96}).eval()
    before = _module_hooks(model)
    maps = gradcam_maps(model, torch.rand(2, 3, 96, 96))
    assert len(maps) == 2
    for item in maps:
        assert set(item) == set(backbones) | {FUSED}
        for m in item.values():
            assert m.shape == (96, 96) and m.dtype == np.float32
            assert m.min() >= 0.0 and m.max() <= 1.0
        assert item[FUSED].max() == pytest.approx(1.0)
    assert _module_hooks(model) == before  # hooks released


def test_frozen_backbones_still_explain():
    model = FusionDetector(["resnet18"], freeze_backbones=True, preprocessing={"img_size": 64}).eval()
    maps = gradcam_maps(model, torch.rand(1, 3, 64, 64))
    assert maps[0]["resnet18"].max() > 0


def test_overlay_is_a_crop_sized_rgb_image():
    crop = np.full((64, 64, 3), 128, np.uint8)
    out = overlay(crop, np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64))
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[0, 0], out[-1, -1])


def test_analyze_image_with_explanations(tiny_checkpoint, astronaut):
    detector = Detector.from_pretrained(tiny_checkpoint)
    result = detector.analyze_image(astronaut, explain=True)
    face = result.faces[0]
    assert face.crop.shape == (64, 64, 3)
    assert set(face.heatmaps) == {"resnet18", "meso4", FUSED}
    assert result.to_dict()["faces"][0]["heatmaps"] == sorted(face.heatmaps)


def test_explaining_after_inference_mode_scoring(tiny_checkpoint, astronaut):
    """Scoring runs under inference_mode; Grad-CAM afterwards must not trip over cached inference tensors."""
    detector = Detector.from_pretrained(tiny_checkpoint)
    detector.analyze_image(astronaut)
    gray = np.repeat(astronaut.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert detector.analyze_image(gray, explain=True).faces[0].heatmaps
