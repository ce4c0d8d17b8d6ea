"""The one inference runtime: where a fusion model runs, in which precision, and how uint8 face crops become its
input. The :class:`~detector.api.Detector`, validation during training (``train/fit.py``), calibration, evaluation
(through the Detector) and the benchmark all score through :class:`Runtime`, so a figure measured by one of them is
the figure the app gives.

* **Device**: CUDA when available, else the CPU (or the one asked for).
* **Precision**: :func:`resolve_precision` (``auto``: fp16 autocast on CUDA; bf16 autocast on CPUs with native bf16
  unless a backbone is slower in it, as EfficientNet-Lite's depthwise convolutions are; else fp32).
* **Normalisation**: ``(x / 255 - mean) / std`` with the checkpoint's per-channel ``mean``/``std`` (declared in its
  ``config.json``: ``[0, 1]`` for the report's from-scratch members, ``(x - 0.5) / 0.5`` for ImageNet ones).
* **Compression**: with ``jpeg_quality`` in the checkpoint's config, each crop is JPEG-encoded at that quality and
  decoded before the normalisation, as the training crops were packed.
* **CPU fast path**: a copy of the model with BatchNorm folded and each batch split across the cores
  (:class:`~detector.fast.FastScorer`), taken when the Runtime is built.
* **Backend** (``backend="auto"``, the Detector's default): on the CPU the model is also exported to ONNX (cached
  under ``~/.cache/deepfake-detector/onnx``, keyed by its weights), checked to give the same P(fake) within 1e-4,
  and both paths are timed on this machine at batch 1 and 16; scoring then runs on the faster one. Grad-CAM always
  runs on the PyTorch model. ``DEEPFAKE_BACKEND=torch|onnx`` forces one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError
from .fast import FastScorer
from .images import jpeg_roundtrip
from .limits import cache_dir
from .model import FusionDetector

log = logging.getLogger(__name__)

BATCH = 32
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BACKENDS = ("auto", "torch", "onnx")
PARITY = 1e-4  # the largest |ΔP(fake)| between the ONNX and the PyTorch path that lets ONNX score


def onnx_cache() -> Path:
    return cache_dir("onnx")


def model_digest(model: FusionDetector) -> str:
    """A hash of the model's config and weights: the name of its cached ONNX export."""
    digest = hashlib.sha256(json.dumps(model.config, sort_keys=True).encode())
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


class OnnxPath:
    """The model as an ONNX Runtime session on the CPU (exported once per set of weights, then cached)."""

    def __init__(self, model: FusionDetector) -> None:
        import copy

        from .export import OnnxScorer, export_onnx

        path = onnx_cache() / f"{model_digest(model)}.onnx"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's notes on constant folding are not the user's concern
                export_onnx(copy.deepcopy(model).cpu(), Path(tmp) / "model.onnx")
                os.replace(Path(tmp) / "model.onnx", path)  # atomic: a concurrent reader sees all or nothing
        self.path = path
        self.scorer = OnnxScorer(path)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.scorer.logits(x.detach().float().cpu().contiguous().numpy()))


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for (checked: it must exist on this machine), else CUDA when available, else the CPU."""
    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"Unknown device {device!r}: use cpu, cuda or cuda:N.") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"Device {device!r} was asked for, but this machine has no usable CUDA GPU; use cpu.")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise ConfigError(f"Device {device!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s).")
    elif chosen.type != "cpu":
        raise ConfigError(f"Device {device!r} is not supported here: use cpu, cuda or cuda:N.")
    return chosen


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
        backend: ``"torch"`` (default), ``"onnx"`` or ``"auto"`` (measure both on this machine, keep the faster;
            CPU only, see the module's docstring). ``$DEEPFAKE_BACKEND`` overrides ``"auto"``.
    """

    def __init__(self, model: FusionDetector, device: str | torch.device | None = None, precision: str = "auto",
                 batch: int = BATCH, backend: str = "torch") -> None:
        self.device = pick_device(device)
        self.precision = resolve_precision(precision, self.device, model)
        self.model = model.eval().to(self.device)
        self.pre = model.preprocessing
        self.batch = max(1, int(batch))
        self._fast: FastScorer | None = None
        if self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)
            self._fast = FastScorer(self.model, torch.bfloat16 if self.precision == "bf16" else None)
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}.")
        if backend == "auto":
            backend = os.environ.get("DEEPFAKE_BACKEND", "auto")
        self.backend, self.choice = "torch", {}
        self._onnx: OnnxPath | None = None
        if backend != "torch" and self.device.type == "cpu" and self.precision == "fp32":
            self._choose(backend)

    def _choose(self, backend: str) -> None:
        """Export to ONNX, check its scores against PyTorch's, time both, keep the faster (``onnx``: ONNX if it
        agrees). Any failure keeps PyTorch: the ONNX path is an optimisation, never a reason to fail."""
        try:
            self._onnx = OnnxPath(self.model)
        except Exception as exc:  # noqa: BLE001 - export or runtime problems of any kind fall back to PyTorch
            log.warning("ONNX Runtime path unavailable, scoring with PyTorch: %s", exc)
            return
        size = self.pre.img_size
        x = self.to_tensor(np.random.default_rng(0).integers(0, 256, (4, size, size, 3), dtype=np.uint8))
        with torch.inference_mode():
            reference = torch.sigmoid(self._torch_forward(x))
        gap = float((torch.sigmoid(self._onnx(x)) - reference).abs().max())
        self.choice = {"onnx_max_score_difference": gap}
        if gap > PARITY:
            log.warning("ONNX Runtime scores differ from PyTorch's by %.2e (> %.0e): scoring with PyTorch", gap, PARITY)
            self._onnx = None
            return
        if backend == "onnx":
            self.backend = "onnx"
            return
        timings = {name: self._time(path, x) for name, path in (("torch", self._torch_forward), ("onnx", self._onnx))}
        self.choice.update({f"{name}_ms": round(t * 1000, 2) for name, t in timings.items()})
        self.backend = min(timings, key=timings.get)
        log.info("scoring path: %s (%s)", self.backend, self.choice)

    def _time(self, path, x: torch.Tensor) -> float:  # noqa: ANN001 - a forward callable
        """Seconds for one face five times and a batch of 16 twice (after a warm-up), the best of two tries."""
        one, batch = x[:1], x[:1].expand(16, -1, -1, -1).contiguous()
        path(one)
        path(batch)
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            for _ in range(5):
                path(one)
            for _ in range(2):
                path(batch)
            best = min(best, time.perf_counter() - t0)
        return best

    def _torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if self._fast is not None:
                return self._fast(x.to(self.device))
            with autocast(self.device, self.precision):
                return self.model(x.to(self.device)).float()

    def to_tensor(self, crops: np.ndarray) -> torch.Tensor:
        """``(N, S, S, 3)`` uint8 -> normalised ``(N, 3, S, S)`` float tensor on the model's device (each crop first
        through a JPEG round trip when the checkpoint's ``jpeg_quality`` says so)."""
        if self.pre.jpeg_quality is not None and len(crops):
            crops = jpeg_roundtrip(crops, self.pre.jpeg_quality)
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        x = normalise(x, self.pre.mean, self.pre.std)
        return x.contiguous(memory_format=torch.channels_last) if self.device.type == "cpu" else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(N, 3, S, S)`` input -> ``(N, 1)`` fp32 logits, on this runtime's path."""
        if self.backend == "onnx" and self._onnx is not None:
            return self._onnx(x)
        return self._torch_forward(x)

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
