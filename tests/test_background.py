"""The background of a face crop (train/background.py): the real MediaPipe selfie segmenter finds the person, the
training augmentation that flattens backgrounds treats real and fake alike, and the probe finds a planted shortcut."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from train.background import PersonMasks, fill_background, fill_person, plain_background


@pytest.fixture(scope="module")
def masks() -> PersonMasks:
    segment = PersonMasks()
    yield segment
    segment.close()


def _portrait(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut's head and shoulders with the studio backdrop around them, at the packs' 128 px."""
    return cv2.resize(astronaut[20:240, 130:350], (128, 128), interpolation=cv2.INTER_AREA)


def test_the_segmenter_finds_the_person_in_a_face_crop(masks, astronaut):
    crop = _portrait(astronaut)
    person = masks.mask(crop)
    assert person.shape == (128, 128) and person.dtype == np.float32
    assert 0.0 <= person.min() and person.max() <= 1.0
    assert person[30:70, 45:85].mean() > 0.9  # the face
    assert person[:16, :16].mean() < 0.1 and person[:16, -16:].mean() < 0.1  # the backdrop beside the hair
    assert masks.masks(np.stack([crop, crop[:, ::-1]])).shape == (2, 128, 128)
    assert masks.mask(np.full((128, 128, 3), 120, np.uint8)).mean() < 0.1  # nobody in a flat image


def test_fills_replace_only_their_part(masks, astronaut):
    crop = _portrait(astronaut)
    person = masks.mask(crop)
    grey = fill_background(crop, person, (200, 200, 200))
    inside, outside = person > 0.99, person < 0.01
    assert inside.mean() > 0.3 and outside.mean() > 0.05
    assert np.abs(grey[inside].astype(int) - crop[inside]).max() <= 3
    assert np.abs(grey[outside].astype(int) - 200).max() <= 1
    alone = fill_person(crop, person, (128, 128, 128))
    assert np.abs(alone[outside].astype(int) - crop[outside]).max() <= 3
    assert np.abs(alone[inside].astype(int) - 128).max() <= 1


def test_plain_background_treats_real_and_fake_alike(masks, astronaut):
    """fit.py --plain-background: the same pixels come out the same whatever their label; the person is kept, the
    background becomes flat, and a crop the segmenter finds no person in is left as it is."""
    from train.data import ArrayDataset, flip_transform

    crop = _portrait(astronaut)
    person = masks.mask(crop)
    flat = plain_background(crop, person, np.random.default_rng(1))
    inside, outside = person > 0.999, person < 0.01
    assert np.abs(flat[inside].astype(int) - crop[inside]).max() <= 1
    assert flat[outside].std(axis=0).max() < 4.0 < crop[outside].std(axis=0).max()
    blank = np.full((128, 128, 3), 90, np.uint8)
    assert np.array_equal(plain_background(blank, masks.mask(blank), np.random.default_rng(1)), blank)

    no_flip = flip_transform()
    no_flip.transforms = no_flip.transforms[1:]  # keep only the scaling to [0, 1]
    x, y = np.stack([crop, crop]), np.array([0, 1])
    always = ArrayDataset(x, y, no_flip, plain_background=1.0)
    outputs = []
    for i in range(2):
        torch.manual_seed(7)
        image, label = always[i]
        assert float(label) == y[i]  # never changes a label
        outputs.append(image)
    assert torch.equal(outputs[0], outputs[1])
    plain = ArrayDataset(x, y, no_flip)[0][0]
    changed = (outputs[0] - plain).abs().amax(0) > 2 / 255
    assert changed[torch.from_numpy(outside)].float().mean() > 0.9
    assert not changed[torch.from_numpy(inside)].any()
    # --plain-background-keep: a face marked to keep its background (a generated fake's is generated too) keeps it
    kept = ArrayDataset(x, y, no_flip, plain_background=1.0, keep_background=np.array([False, True]))
    torch.manual_seed(7)
    assert torch.equal(kept[1][0], plain)
    torch.manual_seed(7)
    assert torch.equal(kept[0][0], outputs[0])


def _pack(folder, crops, labels) -> None:
    (folder / "img").mkdir(parents=True)
    rows = []
    for i, (crop, label) in enumerate(zip(crops, labels)):
        Image.fromarray(crop).save(folder / "img" / f"{i}.png")
        rows.append([f"img/{i}.png", label, "val", "gan" if label else "camera"])
    with open(folder / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["file", "label", "split", "source"], *rows])


def test_the_background_probe_finds_a_planted_background_shortcut(tmp_path, masks, astronaut, tiny_checkpoint):
    """Fakes on a grey studio backdrop, reals on textured ones: the background statistics alone separate them. The
    same faces with the same backgrounds in both classes: they do not. Filling one class leaves the other's scores."""
    from sklearn.metrics import roc_auc_score

    from detector.api import Detector
    from train import background_probe

    crop = _portrait(astronaut)
    person = masks.mask(crop)
    rng = np.random.default_rng(0)
    alpha = person[..., None]
    textured = []
    for _ in range(10):  # blocky random backdrops behind the same person
        noise = rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
        backdrop = cv2.resize(noise, (128, 128), interpolation=cv2.INTER_NEAREST).astype(np.float32)
        textured.append(np.rint(crop * alpha + backdrop * (1 - alpha)).astype(np.uint8))
    studio = [fill_background(crop, person, (int(g), int(g), int(g))) for g in np.linspace(150, 230, 10)]
    crops = np.stack(textured + studio)
    labels = [0] * 10 + [1] * 10
    _pack(tmp_path / "planted", crops, labels)
    _pack(tmp_path / "even", np.stack(textured + textured), labels)

    result = background_probe.main(["--model", str(tiny_checkpoint), "--data", str(tmp_path / "planted"),
                                    str(tmp_path / "even"), "--out", str(tmp_path / "bg.json")])
    assert json.loads((tmp_path / "bg.json").read_text()) == result
    key = "background statistics alone, logistic regression, 5-fold ROC AUC"
    assert result["datasets"]["planted"][key] > 0.9
    assert result["datasets"]["even"][key] <= 0.6

    row = result["datasets"]["planted"]
    detector = Detector.from_pretrained(tiny_checkpoint)
    y = np.array(labels)
    small = np.stack([cv2.resize(c, (64, 64), interpolation=cv2.INTER_AREA) for c in crops])  # the model's size
    base = detector.score_crops(small)
    assert row["n"] == 20 and row["as packed"]["roc_auc"] == pytest.approx(roc_auc_score(y, base), abs=1e-4)
    for fill in ("own mean colour", "studio grey"):
        by = row["fills"][fill]
        assert by["fakes filled"]["mean_fake_score_of_reals"] == pytest.approx(base[y == 0].mean(), abs=1e-4)
        assert by["reals filled"]["mean_fake_score_of_fakes"] == pytest.approx(base[y == 1].mean(), abs=1e-4)
    assert set(row["fills"]["studio grey"]["mean score per source (as packed -> filled)"]) == {"camera", "gan"}
    assert 0.0 <= row["background only"]["mean_fake_score_of_reals"] <= 1.0


def test_without_pypi_the_segmenter_fetch_says_what_to_do(tmp_path, monkeypatch):
    from detector.errors import OfflineError
    from train.background import segmenter_path

    monkeypatch.setenv("DEEPFAKE_FACE_MODELS", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip may look at no index and no local wheel folder
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(OfflineError, match=r"(?s)selfie_segmentation\.tflite.*DEEPFAKE_FACE_MODELS"):
        segmenter_path()
    assert not list(tmp_path.iterdir())  # nothing half-written
