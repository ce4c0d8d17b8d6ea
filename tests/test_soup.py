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
    with pytest.raises(ValueError, match="weight"):
        soup.soup([a, _model(1)], [-1.0, 2.0])  # the first must count
    with pytest.raises(ValueError, match="weight"):
        soup.soup([a, _model(1)], [0.5, -1.0])


def test_a_negative_weight_extrapolates_and_keeps_the_first_s_running_statistics(tmp_path, capsys):
    """--weights 1.5 -0.5 of a fine-tune and its calibrated parent: the fine-tune plus half of what fine-tuning
    changed; BatchNorm running statistics stay the fine-tune's (a variance must stay positive); a calibrated input
    is named in a note."""
    tuned, parent = _model(0), _model(1)
    with torch.no_grad():
        for name, buf in parent.named_buffers():
            if name.endswith("running_var"):
                buf.mul_(4.0)  # 1.5 x v - 0.5 x 4v would be negative
    a = tuned.save_checkpoint(tmp_path / "tuned")
    b = parent.save_checkpoint(tmp_path / "parent", extra_config={"calibration": {"temperature": 1.5}})
    out = soup.main([str(a), str(b), "--weights", "1.5", "-0.5", "--out", str(tmp_path / "x")])
    assert "calibrated" in capsys.readouterr().err
    mixed = FusionDetector.from_pretrained(out).eval()
    st, sp, sm = tuned.state_dict(), parent.state_dict(), mixed.state_dict()
    parameters = {n for n, _ in tuned.named_parameters()}
    for key, value in sm.items():
        if key in parameters:
            assert torch.allclose(value, st[key] + 0.5 * (st[key] - sp[key]), atol=1e-6), key
        else:
            assert torch.equal(value, st[key]), key
    assert any(k.endswith("running_var") for k in sm)
    with torch.no_grad():
        assert torch.isfinite(mixed(torch.rand(2, 3, 64, 64))).all()


def test_unfold_takes_the_folded_temperature_out_first(tmp_path):
    from train.calibrate import scale_logit

    a, b = _model(0), _model(1)
    plain = [m.save_checkpoint(tmp_path / n) for m, n in ((a, "a"), (b, "b"))]
    scale_logit(a, 1 / 1.7)  # what train/calibrate.py stores for a temperature of 1.7
    folded = a.save_checkpoint(tmp_path / "a-cal", extra_config={"calibration": {"temperature": 1.7}})
    want = soup.main([*map(str, plain), "--weights", "2", "-1", "--out", str(tmp_path / "want")])
    got = soup.main([str(folded), str(plain[1]), "--weights", "2", "-1", "--unfold", "0", "--out",
                     str(tmp_path / "got")])
    sw, sg = (FusionDetector.from_pretrained(p).state_dict() for p in (want, got))
    assert all(torch.allclose(sw[k], sg[k], atol=1e-6) for k in sw if sw[k].is_floating_point())
    record = json.loads((got / "config.json").read_text())["soup"]
    assert record[0]["unfolded_temperature"] == 1.7 and "unfolded_temperature" not in record[1]
    assert "--unfold 0" in (got / "README.md").read_text()
    with pytest.raises(SystemExit, match="--unfold 1: not the position of a calibrated checkpoint"):
        soup.main([str(folded), str(plain[1]), "--unfold", "1", "--out", str(tmp_path / "no")])


def test_calibrating_a_soup_keeps_how_it_was_made(tmp_path):
    from test_train import make_layout

    from train import calibrate

    dirs = [m.save_checkpoint(tmp_path / n) for m, n in ((_model(0), "a"), (_model(1), "b"))]
    made = soup.main([*map(str, dirs), "--out", str(tmp_path / "s")])
    data = make_layout(tmp_path / "data", "lower", n=6)
    calibrate.main(["--model", str(made), "--data", str(data), "--out", str(tmp_path / "cal")])
    config = json.loads((tmp_path / "cal" / "config.json").read_text())
    assert [r["checkpoint"] for r in config["soup"]] == [str(d) for d in dirs] and "calibration" in config
