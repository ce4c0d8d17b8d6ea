"""The CPU inference path: BatchNorm folded into the convolutions, and a batch split across the cores.

Two measured wins on a 2-core CPU (see the README's Speed section), both exact in eval mode up to rounding:

* **BatchNorm folding.** An eval-mode BatchNorm right after a convolution is an affine map per channel, so it can be
  folded into that convolution's weights and bias (``torch.fx``'s ``fuse``); the memory pass the BatchNorm made over
  every activation disappears. Xception has one after every separable convolution, DenseNet one per dense layer.
* **Data parallelism across cores.** The elementwise work between convolutions (ReLU, the remaining BatchNorms,
  DenseNet's concatenations, max pooling) does not scale across threads nearly as well as the convolutions. Giving
  each core its own slice of the batch, with one intra-op thread per worker, keeps every core busy on whole layers.

Grad-CAM needs the unfolded model (its hooks and gradients), so :class:`FastScorer` works on a copy and the original
is left untouched.
"""

from __future__ import annotations

import copy
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from timm.layers import BatchNormAct2d
from torch import nn
from torch.fx.experimental.optimization import fuse

log = logging.getLogger(__name__)


def fold_batchnorm(module: nn.Module, inplace: bool = False) -> nn.Module:
    """``module`` (eval mode) with every Conv -> BatchNorm pair folded into one Conv; a copy unless ``inplace``.

    Modules that ``torch.fx`` cannot trace (data-dependent control flow, as in MesoNet's pooling) come back unfolded:
    folding is an optimisation, never a reason to fail.
    """
    if module.training:
        raise ValueError("BatchNorm can only be folded in eval mode; call .eval() first.")
    if not inplace:
        module = copy.deepcopy(module)
    _split_norm_act(module)
    try:
        folded = fuse(module, inplace=True)
    except Exception as exc:  # fx raises several types (TraceError, TypeError, ...) for untraceable code
        log.debug("Not folding BatchNorm in %s: %s", type(module).__name__, exc)
        return module
    return folded.eval()


def _split_norm_act(module: nn.Module) -> None:
    """Replace timm's fused BatchNorm+activation modules by a plain BatchNorm followed by the activation, in place.

    ``torch.fx`` traces through timm's ``BatchNormAct2d`` (DenseNet's norms), so ``fuse`` would not see the
    Conv -> BatchNorm pair; split, the BatchNorm after DenseNet's bottleneck convolution folds like any other.
    """
    for name, child in list(module.named_children()):
        if isinstance(child, BatchNormAct2d):
            norm = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats)
            norm.load_state_dict(child.state_dict())
            setattr(module, name, nn.Sequential(norm.eval(), child.drop, child.act))
        else:
            _split_norm_act(child)


class FastScorer:
    """Logits of a :class:`~detector.model.FusionDetector` on the CPU, the fast way.

    Args:
        model: an eval-mode fusion model (it is copied, not changed).
        dtype: ``torch.bfloat16`` for bf16 autocast, or ``None`` for fp32.
        workers: how many slices a batch is cut into, each run by a worker with one intra-op thread; defaults to the
            calling thread's intra-op thread count (``torch.get_num_threads()``). ``1`` runs in the calling thread,
            as does every batch where PyTorch's thread pool is not OpenMP's (only OpenMP keeps a thread count per
            thread, so only there can a worker use one thread without changing the caller's).
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype | None = torch.bfloat16,
                 workers: int | None = None) -> None:
        folded = copy.deepcopy(model)
        folded.backbones = nn.ModuleList([fold_batchnorm(b, inplace=True) for b in folded.backbones])
        self.model = folded.eval().to(memory_format=torch.channels_last)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dtype = dtype
        wanted = max(1, int(workers if workers is not None else torch.get_num_threads()))
        self.workers = wanted if "OpenMP" in torch.__config__.parallel_info() else 1
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=self.dtype or torch.bfloat16,
                                                    enabled=self.dtype is not None):
            return self.model(x.contiguous(memory_format=torch.channels_last)).float()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                # one intra-op thread per worker (OpenMP's thread count is per thread, the caller's is not changed)
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="fast-scorer",
                                                initializer=torch.set_num_threads, initargs=(1,))
            return self._pool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` normalised images -> ``(B, 1)`` fp32 logits."""
        parts = min(self.workers, len(x))
        if parts <= 1:
            return self._run(x)
        pool = self._executor()
        futures = [pool.submit(self._run, chunk) for chunk in torch.tensor_split(x, parts)]
        return torch.cat([f.result() for f in futures])

    def close(self) -> None:
        """Stop the worker threads (they also stop with the process)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
