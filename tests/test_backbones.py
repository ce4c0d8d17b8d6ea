import pytest
import torch

from detector.backbones import REGISTRY, build_backbone, get_spec, list_backbones
from detector.errors import ConfigError, OfflineError
from detector.model import FusionDetector

REQUIRED = {"xception", "densenet121", "resnet50", "resnet18", "meso4", "mesoinception4"}


def test_registry_has_the_required_backbones():
    assert REQUIRED <= set(list_backbones())
    assert REGISTRY["xception"].timm_name == "legacy_xception"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_pooled_size_and_cam_layer_match_the_registry(name):
    module, spec = build_backbone(name)
    module.eval()
    with torch.no_grad():
        out = module(torch.rand(1, 3, 160, 160))
    assert out.shape == (1, spec.num_features)
    assert _cam_map_shape(module, spec.cam_layer, 160)[2:] != (1, 1)  # the declared layer gives a spatial map


def _cam_map_shape(module: torch.nn.Module, layer: str, size: int) -> tuple[int, ...]:
    """The shape of what the Grad-CAM layer outputs on one input: it must be a (1, C, H, W) feature map."""
    seen = []
    handle = module.get_submodule(layer).register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    try:
        with torch.no_grad():
            module.eval()(torch.rand(1, 3, size, size))
    finally:
        handle.remove()
    assert seen and len(seen[-1]) == 4, f"{layer} gives {seen}, not a feature map"
    return seen[-1]


def test_any_timm_model_is_accepted_with_declared_facts():
    spec = get_spec("efficientnet_b0")
    assert spec.num_features == 1280 and spec.cam_layer == "blocks.6"  # timm's last feature_info entry
    module, built = build_backbone("efficientnet_b0")
    assert module(torch.rand(1, 3, 64, 64)).shape == (1, 1280)
    assert _cam_map_shape(module, built.cam_layer, 64) == (1, 320, 2, 2)  # the last stage, stride 32


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        FusionDetector(["xceptoin"])
    message = str(err.value)
    assert "xceptoin" in message
    for name in REQUIRED:
        assert name in message


def test_mesonet_has_no_imagenet_weights():
    with pytest.raises(ConfigError, match="trained from scratch"):
        build_backbone("meso4", pretrained=True)


def test_pretrained_without_network_fails_fast_and_clearly(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-empty-cache")
    with pytest.raises(OfflineError, match="network"):
        build_backbone("resnet18", pretrained=True)
