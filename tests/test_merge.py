"""train/merge.py: two fused checkpoints become one fusion whose logit is the first's plus a weighted second's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from detector.model import FusionDetector
from train import merge


def _model(backbones, seed, size=64, **pre):
    torch.manual_seed(seed)
    model = FusionDetector(backbones, preprocessing={"img_size": size, **pre})
    with torch.no_grad():  # a head that is not near zero, so that the sum is a real test
        for p in model.head.parameters():
            p.normal_(0, 0.2)
    return model.eval()


def test_the_merged_logit_is_the_weighted_sum_and_survives_a_round_trip(tmp_path):
    fusion = _model(["resnet18", "meso4"], 0, jpeg_quality=90, threshold=0.7, uncertain_band=[0.6, 0.8])
    expert = _model(["mesoinception4"], 1)
    a_dir = fusion.save_checkpoint(tmp_path / "a")
    b_dir = expert.save_checkpoint(tmp_path / "b")
    out = merge.main(["--fusion", str(a_dir), "--expert", str(b_dir), "--weight", "0.6", "--out",
                      str(tmp_path / "m")])
    merged = FusionDetector.from_pretrained(out).eval()
    assert merged.backbone_names == ["resnet18", "meso4", "mesoinception4"]
    assert merged.hidden == fusion.hidden + expert.hidden
    x = torch.rand(5, 3, 64, 64)
    with torch.no_grad():
        want = fusion(x) + 0.6 * expert(x)
        assert torch.allclose(merged(x), want, atol=1e-5)
        assert not torch.allclose(merged(x), fusion(x), atol=1e-3)  # the expert counts
    pre = merged.preprocessing
    assert pre.jpeg_quality == 90  # the fusion's preprocessing is kept ...
    assert pre.threshold == 0.5 and pre.uncertain_band is None  # ... but not its calibration
    assert [m["backbone"] for m in pre.members] == merged.backbone_names
    record = json.loads((out / "config.json").read_text())["merged"]
    assert record["weight"] == 0.6 and record["expert"] == str(b_dir)
    assert "train/merge.py" in (out / "README.md").read_text()

    from detector.api import Detector

    scores = Detector.from_pretrained(out).score_crops(np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3),
                                                                                          dtype=np.uint8))
    assert scores.shape == (3,) and ((0 <= scores) & (scores <= 1)).all()


def test_merges_that_cannot_be_one_fusion_are_refused(tmp_path):
    fusion = _model(["resnet18", "meso4"], 0)
    with pytest.raises(ValueError, match="distinct"):
        merge.merge(fusion, _model(["meso4"], 1), 1.0)
    with pytest.raises(ValueError, match="different inputs"):
        merge.merge(fusion, _model(["mesoinception4"], 1, size=128), 1.0)
    with pytest.raises(ValueError, match="weight"):
        merge.merge(fusion, _model(["mesoinception4"], 1), 0.0)
    a = fusion.save_checkpoint(tmp_path / "a")
    with pytest.raises(SystemExit, match="distinct"):
        merge.main(["--fusion", str(a), "--expert", str(a), "--out", str(tmp_path / "m")])
