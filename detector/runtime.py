"""The one inference runtime: where a fusion model runs, in which precision, and how uint8 face crops become its
input. The :class:`~detector.api.Detector`, validation during training (``train/fit.py``), calibration, evaluation
(through the Detector) and the benchmark all score through :class:`Runtime`, so a figure measured by one of them is
the figure the app gives.

* **Device**: CUDA when available, else the CPU (or the one asked for).
* **Precision**: :func:`resolve_precision` (``auto``: fp16 autocast on CUDA; bf16 autocast on CPUs with native bf16
  unless a backbone is slower in it, as EfficientNet-Lite's depthwise convolutions are; else fp32).
* **Normalisation**: ``(x / 255 - mean) / std`` with the checkpoint's per-channel ``mean``/``std`` (declared in its
  ``config.json``: ``[0, 1]`` for the report's from-scratch members, ``(x - 0.5) / 0.5`` for ImageNet ones).
* **CPU fast path**: a copy of the model with BatchNorm folded and each batch split across the cores
  (:class:`~detector.fast.FastScorer`), taken when the Runtime is built.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence

import numpy as np
import torch

from .errors import ConfigError
from .fast import FastScorer
from .model import FusionDetector

BATCH = 32
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 / AMX), where autocast roughly doubles speed (read once:
    the precision rule asks on every Runtime and every training step)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device, model: FusionDetector | None = None) -> str:
    """``auto``: fp16 on CUDA; on a CPU bf16 where it is native and every backbone of ``model`` gains from it."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}.")
    if precision == "auto":
        if device.type == "cuda":
            return "fp16"
        gains = model is None or all(spec.cpu_bf16 for spec in model.specs)
        return "bf16" if cpu_has_bf16() and gains else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("fp16 inference needs a CUDA device; use bf16 or fp32 on the CPU.")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """An autocast context for a resolved precision (``fp32``: none)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``[0, 1]`` images, ``(3, S, S)`` or ``(N, 3, S, S)`` -> the model's input (per-channel mean and std)."""
    shape = (3, 1, 1) if x.dim() == 3 else (1, 3, 1, 1)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x - m) / s


class Runtime:
    """Scores uint8 face crops with a fusion model, the way the Detector does.

    Args:
        model: a :class:`FusionDetector`; put in eval mode and moved to the device (in place).
        device: ``"cpu"``, ``"cuda"``... (default: CUDA when available).
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only); see :func:`resolve_precision`.
        batch: crops per forward pass in :meth:`logits`.
    """

    def __init__(self, model: FusionDetector, device: str | torch.device | None = None, precision: str = "auto",
                 batch: int = BATCH) -> None:
        self.device = pick_device(device)
        self.precision = resolve_precision(precision, self.device, model)
        self.model = model.eval().to(self.device)
        self.pre = model.preprocessing
        self.batch = max(1, int(batch))
        self._fast: FastScorer | None = None
        if self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)
            self._fast = FastScorer(self.model, torch.bfloat16 if self.precision == "bf16" else None)

    def to_tensor(self, crops: np.ndarray) -> torch.Tensor:
        """``(N, S, S, 3)`` uint8 -> normalised ``(N, 3, S, S)`` float tensor on the model's device."""
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        x = normalise(x, self.pre.mean, self.pre.std)
        return x.contiguous(memory_format=torch.channels_last) if self.device.type == "cpu" else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(N, 3, S, S)`` input -> ``(N, 1)`` fp32 logits, on this runtime's path."""
        with torch.inference_mode():
            if self._fast is not None:
                return self._fast(x.to(self.device))
            with autocast(self.device, self.precision):
                return self.model(x.to(self.device)).float()

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """Fake logits (before the sigmoid) for ``(N, S, S, 3)`` uint8 crops, in batches."""
        out = [self.forward(self.to_tensor(crops[i:i + self.batch])).squeeze(1).cpu().numpy()
               for i in range(0, len(crops), self.batch)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def scores(self, crops: np.ndarray) -> np.ndarray:
        """P(fake) for ``(N, S, S, 3)`` uint8 crops."""
        return torch.sigmoid(torch.from_numpy(self.logits(crops))).numpy()

    def close(self) -> None:
        """Stop the CPU path's worker threads (they also stop with the process)."""
        if self._fast is not None:
            self._fast.close()
