"""The bundled checkpoint: strict load, card consistent with config, regression guard, accuracy guard."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from app_server import ROOT
from conftest import shared
from detector.api import DEFAULT_MODEL_DIR, Detector
from detector.model import FusionDetector

pytestmark = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "model.safetensors").is_file(),
                                reason="no bundled default model")

# P(fake) of the bundled model (fp32) on the fixed inputs below, recorded when the checkpoint was shipped.
RECORDED = json.loads((ROOT / "tests" / "default_model_scores.json").read_text()) \
    if (ROOT / "tests" / "default_model_scores.json").is_file() else {}


def fixed_inputs(size: int) -> dict[str, np.ndarray]:
    """Crops made by the project's own code from the shipped public-domain examples, plus synthetic patterns."""
    from detector.images import load_image

    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[:size, :size]
    astronaut = load_image(ROOT / "assets" / "examples" / "astronaut.jpg")
    return {
        "astronaut_whole": astronaut,
        "gradient": np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 128)], -1).astype(np.uint8),
        "noise": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
        "grey": np.full((size, size, 3), 128, np.uint8),
    }


@pytest.fixture(scope="module")
def detector():
    return Detector.from_pretrained(None, precision="fp32")


def test_loads_strictly_and_is_small_enough():
    model = FusionDetector.from_pretrained(DEFAULT_MODEL_DIR)
    assert (DEFAULT_MODEL_DIR / "model.safetensors").stat().st_size < 60 * 2**20
    assert model.preprocessing.img_size >= 64
    if (DEFAULT_MODEL_DIR / "video").is_dir():  # the model for videos (train/video_model.py), hash checked too
        video = FusionDetector.from_pretrained(DEFAULT_MODEL_DIR / "video", require_hash=True)
        assert (DEFAULT_MODEL_DIR / "video" / "model.safetensors").stat().st_size < 60 * 2**20
        assert video.preprocessing.video_threshold is not None  # its own clip calibration


def test_card_matches_config():
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    card = (DEFAULT_MODEL_DIR / "README.md").read_text()
    assert f"# Deepfake detector: {'+'.join(config['backbones'])}" in card
    pre = config["preprocessing"]
    assert f"{pre['img_size']}x{pre['img_size']}" in card and f"square of {pre['crop_margin']} x" in card
    assert ("JPEG-encoded at quality" in card) == bool(pre.get("jpeg_quality"))
    if pre.get("jpeg_quality"):
        assert f"JPEG-encoded at quality {pre['jpeg_quality']} and decoded" in card
    assert config["training"]["command"] in card
    assert f"ROC AUC {config['training']['val_metrics']['roc_auc']:.4f}" in card
    assert "research use only" in card
    if "calibration" in config:  # train/calibrate.py: the temperature in the card is the one folded into the head
        assert f"Temperature {config['calibration']['temperature']} fitted on" in card
    if config.get("video_model"):  # and the model for videos, with its own calibration
        video = json.loads((DEFAULT_MODEL_DIR / "video" / "config.json").read_text())
        section = card.split("## Model for videos", 1)[1]
        assert f"Temperature {video['calibration']['temperature']} fitted on" in section
        assert f"a clip is fake from {video['preprocessing']['video_threshold']}" in section


def test_regression_scores_on_fixed_inputs(detector):
    assert RECORDED, "tests/default_model_scores.json is missing"
    for name, image in fixed_inputs(detector.pre.img_size).items():
        score = detector.analyze_image(image, whole_image=True).score
        assert score == pytest.approx(RECORDED[name], abs=2e-3), name


@pytest.mark.parametrize("dataset", ["dfdc-faces", "openforensics-test"])
def test_auc_on_a_fixed_test_sample_matches_the_card(detector, dataset):
    data = shared(dataset)
    from sklearn.metrics import roc_auc_score

    from train.data import discover, limit_split, load_split

    card = (DEFAULT_MODEL_DIR / "README.md").read_text()
    match = re.search(rf"{dataset} \(test, image \(face crops\)\) \| \d+ \| [\d.]+ \|(?: [\d.]+ \|){{7}} ([\d.]+) \|",
                      card)
    assert match, f"the card has no {dataset} test row"
    split = limit_split(discover(data / "manifest.csv")["test"], 400, seed=0)
    x, y, _ = load_split(split, detector.pre.img_size)
    auc = roc_auc_score(y, detector.score_crops(x))
    assert abs(auc - float(match.group(1))) < 0.02


if __name__ == "__main__":
    # Record the regression scores after shipping a new checkpoint: python tests/test_default_model.py
    det = Detector.from_pretrained(None, precision="fp32")
    scores = {name: round(float(det.analyze_image(img, whole_image=True).score), 6)
              for name, img in fixed_inputs(det.pre.img_size).items()}
    (ROOT / "tests" / "default_model_scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    print(scores)


def test_the_app_examples_get_the_answers_their_labels_promise(detector):
    """The examples the app offers show what the tool does: the bundled model answers each as its label says (a
    known miss is offered only when captioned as one)."""
    import app

    for path, label, _, expected in app.EXAMPLE_PHOTOS:
        result = detector.analyze_image(path)
        assert result.label == expected and f"(the model: {expected})" in label, (path.name, result.label)
    for path, label, _, expected in app.EXAMPLE_VIDEOS:
        assert detector.analyze_video(path).label == expected and f"(the model: {expected})" in label
    assert any(e[3] == "fake" for e in app.EXAMPLE_PHOTOS)  # a fake it catches is among them


def test_a_face_cut_by_the_edge_is_shown_but_a_whole_face_decides(detector, astronaut):
    """A face whose crop runs past the photo's edge is found, scored and shown, but while a whole face is there it
    does not decide the photo (measured on validation photos: such faces are judged little better than chance); a
    photo whose only face is cut is still decided by it. The app says which faces were left out, and why."""
    import app

    cut_then_whole = np.ascontiguousarray(np.concatenate([astronaut[:, 190:], astronaut], axis=1))
    result = detector.analyze_image(cut_then_whole, keep_crops=True)
    assert len(result.faces) == 2
    cut, whole = result.faces  # reading order: the cut face is at the left edge
    assert cut.at_edge and not whole.at_edge and cut.crop_box[0] < 0
    assert cut.score > whole.score  # so the rule matters here: the most suspicious face overall is the cut one
    assert result.score == whole.score and result.top_face == 1
    assert result.label == detector.decision().label(whole.score)
    assert [f["at_edge"] for f in result.to_dict()["faces"]] == [True, False]
    verdict, cards = app.image_verdict(result, None), app.face_cards(result)
    assert "Face 2 of 2 is the most suspicious" in verdict and "Face 1 is cut by the photo" in verdict
    assert cards.count(app.EDGE_NOTE.replace("'", "&#x27;")) == 1

    only_cut = detector.analyze_image(np.ascontiguousarray(astronaut[:, 190:]))
    assert [f.at_edge for f in only_cut.faces] == [True]
    assert only_cut.score == only_cut.faces[0].score and only_cut.top_face == 0
    assert "cut by the photo" not in app.image_verdict(only_cut, None)
