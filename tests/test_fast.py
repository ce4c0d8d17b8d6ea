"""The CPU fast path: folded BatchNorm must not change a score, and the batch split must not change the caller."""

import numpy as np
import pytest
import torch
from torch import nn

from detector.api import Detector
from detector.fast import FastScorer, fold_batchnorm
from detector.model import FusionDetector
from detector.runtime import cpu_has_bf16


def _trained_looking(model: nn.Module) -> nn.Module:
    """Give every BatchNorm non-trivial statistics, as training would, so that folding has something to fold."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)
    return model.eval()


def _batchnorm_calls(module: nn.Module, x: torch.Tensor) -> int:
    """How many batch norms a forward pass runs (modules and functional calls alike)."""
    from torch.profiler import profile

    with torch.no_grad(), profile() as prof:
        module(x)
    return sum(e.count for e in prof.key_averages() if e.key == "aten::batch_norm")


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "xception"])
def test_folding_keeps_the_output_and_removes_the_batchnorms(name):
    torch.manual_seed(0)
    backbone = _trained_looking(FusionDetector([name]).backbones[0])
    x = torch.rand(2, 3, 96, 96)
    folded = fold_batchnorm(backbone)
    with torch.no_grad():
        expected, got = backbone(x), folded(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    before, after = _batchnorm_calls(backbone, x), _batchnorm_calls(folded, x)
    # every BatchNorm that follows a convolution is gone; DenseNet keeps the ones that follow a concatenation
    assert after < before and after == (62 if name == "densenet121" else 0)  # 58 dense layers, 3 transitions, norm5
    assert _batchnorm_calls(backbone, x) == before  # the original is not changed


def test_an_untraceable_backbone_is_left_as_it_was():
    torch.manual_seed(0)
    meso = _trained_looking(FusionDetector(["meso4"]).backbones[0])  # data-dependent pooling: fx cannot trace it
    folded = fold_batchnorm(meso)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(folded(x), meso(x))
    assert folded is not meso


def test_folding_refuses_a_model_in_training_mode():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_fast_scorer_matches_the_model_and_leaves_the_caller_threads_alone(batch):
    torch.manual_seed(0)
    model = _trained_looking(FusionDetector(["resnet18", "meso4"], preprocessing={"img_size": 64}))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scorer = FastScorer(model, dtype=None, workers=2)
    x = torch.rand(batch, 3, 64, 64)
    threads = torch.get_num_threads()
    with torch.no_grad():
        expected = model(x)
    got = scorer(x)
    assert got.shape == (batch, 1) and got.dtype == torch.float32
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert torch.get_num_threads() == threads
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    scorer.close()


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16")
def test_fast_scorer_in_bf16_stays_close_to_fp32():
    torch.manual_seed(0)
    model = _trained_looking(FusionDetector(["resnet18", "meso4"], preprocessing={"img_size": 64}))
    x = torch.rand(6, 3, 64, 64)
    with torch.no_grad():
        p32 = torch.sigmoid(model(x))
    p16 = torch.sigmoid(FastScorer(model, dtype=torch.bfloat16)(x))
    assert float((p16 - p32).abs().max()) < 0.02


def test_the_detector_scores_through_the_fast_path_on_cpu(tiny_checkpoint):
    detector = Detector.from_pretrained(tiny_checkpoint, device="cpu", precision="fp32")
    assert detector.runtime._fast is not None
    crops = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = torch.sigmoid(detector.model(detector.to_tensor(crops))).squeeze(1).numpy()
    np.testing.assert_allclose(detector.score_crops(crops), expected, rtol=1e-4, atol=1e-5)
