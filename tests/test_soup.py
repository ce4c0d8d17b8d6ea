"""train/soup.py: fused checkpoints of one architecture become their weight average."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from detector.model import FusionDetector
from train import soup


def _model(seed, backbones=("resnet18", "meso4"), size=64, **pre):
    torch.manual_seed(seed)
    model = FusionDetector(list(backbones), preprocessing={"img_size": size, **pre})
    with torch.no_grad():  # every parameter moved, so that an average differs from each ingredient
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def test_the_soup_is_the_weighted_average_and_survives_a_round_trip(tmp_path):
    a = _model(0, jpeg_quality=90, threshold=0.7, uncertain_band=[0.6, 0.8])
    b, c = _model(1), _model(2)
    dirs = [m.save_checkpoint(tmp_path / n) for m, n in ((a, "a"), (b, "b"), (c, "c"))]
    out = soup.main([*map(str, dirs), "--weights", "2", "1", "1", "--out", str(tmp_path / "s")])
    mixed = FusionDetector.from_pretrained(out).eval()
    sa, sb, sc, sm = (m.state_dict() for m in (a, b, c, mixed))
    for key, value in sm.items():
        if value.is_floating_point():
            assert torch.allclose(value, (2 * sa[key] + sb[key] + sc[key]) / 4, atol=1e-6), key
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(mixed(x), a(x), atol=1e-4)  # a new model, not the first ingredient
    pre = mixed.preprocessing
    assert pre.jpeg_quality == 90  # the first checkpoint's preprocessing is kept ...
    assert pre.threshold == 0.5 and pre.uncertain_band is None  # ... but not its calibration
    record = json.loads((out / "config.json").read_text())["soup"]
    assert [r["weight"] for r in record] == [2.0, 1.0, 1.0] and record[1]["checkpoint"] == str(dirs[1])
    assert "train/soup.py" in (out / "README.md").read_text()

    from detector.api import Detector

    crops = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    scores = Detector.from_pretrained(out).score_crops(crops)
    assert scores.shape == (3,) and ((0 <= scores) & (scores <= 1)).all()


def test_soups_that_cannot_be_averaged_are_refused(tmp_path):
    a = _model(0)
    with pytest.raises(ValueError, match="architectures"):
        soup.soup([a, _model(1, backbones=("resnet18", "mesoinception4"))])
    with pytest.raises(ValueError, match="different inputs"):
        soup.soup([a, _model(1, size=96)])
    with pytest.raises(ValueError, match="at least two"):
        soup.soup([a])
    with pytest.raises(ValueError, match="weight"):
        soup.soup([a, _model(1)], [1.0])
    first = a.save_checkpoint(tmp_path / "a")
    calibrated = _model(1).save_checkpoint(tmp_path / "b", extra_config={"calibration": {"temperature": 1.5}})
    with pytest.raises(SystemExit, match="calibrated"):
        soup.main([str(first), str(calibrated), "--out", str(tmp_path / "s")])
    assert not (tmp_path / "s").exists()
