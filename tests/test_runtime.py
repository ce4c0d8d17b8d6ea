"""One inference runtime: the Detector, validation in training, calibration and the benchmark score alike."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from detector.api import Detector
from detector.errors import ConfigError
from detector.faces import pad_to_square, whole_image_input
from detector.model import FusionDetector
from detector.runtime import Runtime, normalise, resolve_precision
from tests.test_fast import _trained_looking
from train.data import Split, load_split

MEAN, STD = (0.5, 0.4, 0.3), (0.5, 0.6, 0.7)


@pytest.fixture(scope="module")
def model() -> FusionDetector:
    """A resnet18+meso4 at 64 px with BatchNorm statistics to fold and a non-trivial normalisation."""
    torch.manual_seed(0)
    m = FusionDetector(["resnet18", "meso4"], preprocessing={"img_size": 64, "mean": MEAN, "std": STD})
    return _trained_looking(m)


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)


def _by_hand(model: FusionDetector, crops: np.ndarray, mean=MEAN, std=STD) -> np.ndarray:
    """Eager fp32, normalised by hand from the config's numbers."""
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        return torch.sigmoid(model.eval()(x)).squeeze(1).numpy()


def test_detector_training_validation_calibration_and_benchmark_score_alike(model, crops):
    from benchmarks.bench import make_runner
    from train.fit import predict

    expected = _by_hand(model, crops)
    # the config's normalisation matters: scoring [0, 1] input would give other numbers
    assert np.abs(_by_hand(model, crops, (0, 0, 0), (1, 1, 1)) - expected).max() > 1e-3
    runtime = Runtime(model, "cpu", "fp32", batch=2)
    got = {
        "runtime": runtime.scores(crops),
        "detector": Detector(model, device="cpu", precision="fp32").score_crops(crops),
        "fit.predict": predict(model, crops, torch.device("cpu"), "fp32", 3),
        "calibrate": 1 / (1 + np.exp(-runtime.logits(crops))),
        "bench fp32_fast": make_runner(model, "fp32_fast", Path("."))(runtime.to_tensor(crops).numpy()),
    }
    for name, scores in got.items():
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5, err_msg=name)


def test_fit_validation_uses_the_runtime(model, crops, monkeypatch):
    import train.fit as fit

    seen = []

    class Spy(Runtime):
        def scores(self, x):
            seen.append((self.precision, len(x)))
            return super().scores(x)

    monkeypatch.setattr(fit, "Runtime", Spy)
    fit.predict(model, crops, torch.device("cpu"), "fp32", 4)
    assert seen == [("fp32", 5)]


def test_runtime_batches_and_empty_input(model, crops):
    one = Runtime(model, "cpu", "fp32", batch=1).scores(crops)
    many = Runtime(model, "cpu", "fp32", batch=64).scores(crops)
    np.testing.assert_allclose(one, many, rtol=1e-5, atol=1e-6)
    assert Runtime(model, "cpu", "fp32").scores(crops[:0]).shape == (0,)


def test_normalise_is_the_same_for_one_image_and_a_batch():
    x = torch.rand(2, 3, 4, 4)
    batch = normalise(x, MEAN, STD)
    assert torch.allclose(batch[1], normalise(x[1], MEAN, STD))
    assert torch.allclose(batch[:, 2], (x[:, 2] - 0.3) / 0.7)


def test_precision_rules():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    with pytest.raises(ConfigError, match="CUDA"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ConfigError, match="precision must be"):
        resolve_precision("int8", cpu)


def test_a_whole_image_becomes_the_same_input_in_the_app_and_in_training(tmp_path, model):
    rng = np.random.default_rng(1)
    rgb = rng.integers(1, 256, (40, 90, 3), dtype=np.uint8)  # wide, no black pixels of its own
    square, x0, y0 = pad_to_square(rgb)
    assert square.shape == (90, 90, 3) and (x0, y0) == (0, 25)
    assert not square[:25].any() and not square[65:].any() and np.array_equal(square[25:65], rgb)
    assert pad_to_square(square)[0] is square  # already square: untouched

    path = tmp_path / "wide.png"
    Image.fromarray(rgb).save(path)
    x, _, skipped = load_split(Split([path], [1]), 64)
    detector = Detector(model, device="cpu", precision="fp32")
    result = detector.analyze_image(path, whole_image=True)
    assert skipped == 0
    assert np.array_equal(x[0], whole_image_input(rgb, 64))
    assert np.array_equal(result.faces[0].crop, x[0])
    assert result.faces[0].crop_box == [0, -25, 90]


def test_jpeg_quality_in_the_config_round_trips_crops_before_scoring(tmp_path, crops):
    """A checkpoint with preprocessing.jpeg_quality scores each crop after a JPEG round trip at that quality: the
    same scores as the plain model given the round-tripped crops, on every path, and other scores than raw crops."""
    from detector.images import jpeg_roundtrip

    torch.manual_seed(0)
    plain = _trained_looking(FusionDetector(["resnet18", "meso4"], preprocessing={"img_size": 64, "mean": MEAN,
                                                                                  "std": STD}))
    saved = plain.save_checkpoint(tmp_path / "q90")
    cfg = json.loads((saved / "config.json").read_text())
    cfg["preprocessing"]["jpeg_quality"] = 90
    (saved / "config.json").write_text(json.dumps(cfg))
    model = FusionDetector.from_pretrained(saved, require_hash=False)
    assert model.preprocessing.jpeg_quality == 90
    assert model.save_checkpoint(tmp_path / "again").joinpath("config.json").read_text().count('"jpeg_quality": 90')

    expected = _by_hand(plain, jpeg_roundtrip(crops, 90))
    assert np.abs(_by_hand(plain, crops) - expected).max() > 1e-3  # the round trip changes what the model sees
    got = {"runtime": Runtime(model, "cpu", "fp32").scores(crops),
           "detector": Detector(model, device="cpu", precision="fp32").score_crops(crops)}
    for name, scores in got.items():
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5, err_msg=name)


def test_the_round_trip_is_what_packing_writes(tmp_path):
    """Inference's JPEG round trip gives exactly the pixels a crop packed at that quality reads back as."""
    from detector.images import jpeg_roundtrip, load_image
    from train.pack import encode

    photo = Path(__file__).parents[1] / "assets" / "examples" / "astronaut.jpg"
    crop = np.asarray(Image.open(photo).convert("RGB").resize((128, 128)))
    for quality in (60, 90):
        encode(crop, tmp_path / f"q{quality}.jpg", "jpeg", quality)
        packed = load_image(tmp_path / f"q{quality}.jpg")
        assert np.array_equal(jpeg_roundtrip(crop[None], quality)[0], packed)
    assert not np.array_equal(jpeg_roundtrip(crop[None], 60), jpeg_roundtrip(crop[None], 90))


@pytest.mark.parametrize("bad", [0, 101, -5, True])
def test_jpeg_quality_must_be_a_quality(bad):
    from detector.config import Preprocessing

    with pytest.raises(ConfigError, match="jpeg_quality"):
        Preprocessing(jpeg_quality=bad)
