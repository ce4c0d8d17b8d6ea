"""Training on several kinds of fakes: identical processing for real and fake, degradations, source balance,
per-source evaluation, the metadata shortcut probe, and (with the fetched data) the synthetic-faces layout."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from detector.model import FusionDetector
from train import evaluate, shortcut_probe
from train.data import Degrade, balanced_weights, discover, source_of
from test_train import SIZE, _image


def test_the_same_face_as_a_small_jpeg_and_a_large_png_gives_the_same_crop(tmp_path, astronaut, tiny_checkpoint):
    """Real and fake photos come at different sizes and formats; the pipeline turns both into the same crop: the
    same face box relative to the photo, and the same pixels up to JPEG loss and a pixel of box jitter."""
    from detector.api import Detector
    from detector.faces import crop_face

    detector = Detector.from_pretrained(tiny_checkpoint)
    small = tmp_path / "small.jpg"
    Image.fromarray(astronaut).resize((256, 256), Image.LANCZOS).save(small, quality=75, subsampling=2)
    large = tmp_path / "large.png"
    Image.fromarray(astronaut).resize((1024, 1024), Image.LANCZOS).save(large)
    found = {p.name: detector.analyze_image(p, keep_crops=True).faces for p in (small, large)}
    [s], [g] = found["small.jpg"], found["large.png"]
    rel_s, rel_g = np.array(s.box) / 256, np.array(g.box) / 1024
    assert np.abs(rel_s - rel_g).max() < 0.02 * rel_g[2]  # the same box, to 2 % of the face's side
    assert s.crop.shape == g.crop.shape == (detector.pre.img_size,) * 2 + (3,)
    same = np.abs(s.crop.astype(int) - g.crop.astype(int)).mean()
    assert same < 12
    # what a different crop looks like: the same photo cropped a tenth of a face to the side
    x, y, w, h = g.box
    moved = crop_face(np.asarray(Image.open(large)), (x + w // 10, y, w, h), detector.pre)
    assert np.abs(moved.astype(int) - g.crop.astype(int)).mean() > 1.5 * same


def test_degrade_changes_resolution_and_compression_but_not_the_shape():
    rgb = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype=np.uint8))
    torch.manual_seed(0)
    outs = [Degrade()(rgb) for _ in range(6)]
    assert all(o.shape == rgb.shape and o.dtype == torch.uint8 for o in outs)
    assert len({o.float().std().item() for o in outs}) == 6  # each draw degrades differently
    assert all(o.float().std() < rgb.float().std() for o in outs)  # downscaling and JPEG remove pixel noise
    degrade = Degrade(p_border=1.0, max_border=0.2)
    params = degrade.params_from([0.5, 0.5, 0.0, 0.2, 0.9, 0.9, 0.9, 0.5])  # a border on the top side only
    bordered = degrade.transform(rgb, params)
    dark_rows = (bordered == 0).all(dim=0).all(dim=1)
    assert dark_rows[:6].all() and not dark_rows[7:].any()  # 0.1 x 64 = 6 rows, then the face


def test_mixed_augmentation_degrades_about_half_of_the_faces():
    from train.data import mixed_transform

    rgb = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (3, 64, 64), dtype=np.uint8))
    degrade_or_not = mixed_transform(64).transforms[0]
    torch.manual_seed(0)
    changed = [not torch.equal(degrade_or_not(rgb), rgb) for _ in range(200)]
    assert 0.38 < np.mean(changed) < 0.62
    out = mixed_transform(64)(rgb)
    assert out.shape == (3, 64, 64) and out.is_floating_point() and 0 <= out.min() and out.max() <= 1


def test_source_balance_halves_the_classes_and_tempers_big_sources(tmp_path):
    files = [tmp_path / f"{i}" for i in range(110)]
    labels = np.array([1] * 100 + [0] * 10)  # fakes: 90 of one generator, 10 of another; 10 reals
    origin = {f: ("big" if i < 90 else "small" if i < 100 else "real") for i, f in enumerate(files)}
    w = balanced_weights(files, labels, origin)
    assert np.isclose(w[labels == 1].sum(), 0.5) and np.isclose(w[labels == 0].sum(), 0.5)
    big, small = w[:90].sum(), w[90:100].sum()
    assert np.isclose(big / small, np.sqrt(90 / 10))  # shares grow with the square root of the source size


def _manifest(root, rows):
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "split", "source"])
        writer.writerows(rows)
    return root / "manifest.csv"


def test_evaluate_reports_a_row_per_source(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(24):
        label = int(i >= 12)
        source = ["camera-a", "camera-b"][i % 2] if not label else ["gan-x", "diffusion-y"][i % 2]
        Image.fromarray(_image(label, rng)).save(tmp_path / "img" / f"{i}.png")
        rows.append([f"img/{i}.png", "fake" if label else "real", "test", source])
    manifest = _manifest(tmp_path, rows)
    assert source_of([manifest])[tmp_path / "img" / "0.png"] == "camera-a"
    FusionDetector(["meso4"], preprocessing={"img_size": SIZE}).save_checkpoint(tmp_path / "m")
    metrics = evaluate.main(["--model", str(tmp_path / "m"), "--data", str(manifest), "--out", str(tmp_path / "e")])
    rows_out = {r["source"]: r for r in metrics["per_source"]}
    assert set(rows_out) == {"camera-a", "camera-b", "gan-x", "diffusion-y"}
    assert all(r["n"] == 6 for r in rows_out.values())
    assert rows_out["gan-x"]["label"] == "fake" and rows_out["camera-a"]["label"] == "real"
    # a generator's AUC is its fakes against every real
    scores = {row[0]: float(row[2]) for row in csv.reader(open(tmp_path / "e" / "scores.csv")) if row[0] != "file"}
    from sklearn.metrics import roc_auc_score

    fake = [scores[str(tmp_path / "img" / f"{i}.png")] for i in range(12, 24, 2)]
    real = [scores[str(tmp_path / "img" / f"{i}.png")] for i in range(12)]
    assert rows_out["gan-x"]["roc_auc"] == pytest.approx(roc_auc_score([0] * 12 + [1] * 6, real + fake), abs=1e-4)
    assert "Per source" in (tmp_path / "e" / "metrics.md").read_text()


def test_shortcut_probe_finds_metadata_that_gives_the_label_away_and_not_after_processing(tmp_path):
    """Fakes stored as large q95 files and reals as small q60 files: the raw metadata alone separates them; the
    face crops the model sees, degraded the same way for both, do not."""
    rng = np.random.default_rng(0)
    raw, crops = tmp_path / "raw", tmp_path / "crops"
    (raw / "img").mkdir(parents=True)
    (crops / "img").mkdir(parents=True)
    raw_rows, crop_rows = [], []
    for i in range(80):
        label = i % 2
        face = _image(0, rng)  # the same kind of face for both classes: only the storage differs
        size, quality = ((256, 95) if label else (96, 60))
        Image.fromarray(face).resize((size, size)).save(raw / "img" / f"{i}.jpg", quality=quality)
        Image.fromarray(face).resize((64, 64)).save(crops / "img" / f"{i}.jpg", quality=95)
        raw_rows.append([f"img/{i}.jpg", label, "train", "s"])
        crop_rows.append([f"img/{i}.jpg", label, "train", "s"])
    report = shortcut_probe.main(["--raw", str(_manifest(raw, raw_rows)), "--crops", str(_manifest(crops, crop_rows)),
                                  "--out", str(tmp_path / "probe")])
    auc = report["roc_auc"]
    assert auc["raw files"] > 0.95
    assert auc["pipeline crops + robust augmentation"] < 0.75


def test_jpeg_quality_is_read_back_from_the_file():
    for q in (30, 60, 90):
        buffer = io.BytesIO()
        Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(buffer, "JPEG", quality=q)
        assert abs(shortcut_probe.jpeg_quality(Image.open(buffer)) - q) <= 3


def test_synthetic_faces_layout_when_fetched():
    """With synthetic-faces fetched and extracted (README, "Synthetic faces"; SYNTHETIC_FACES=.../manifest.csv), its
    splits and sources are as documented and the test generators appear nowhere in train/val."""
    import os
    from pathlib import Path

    path = Path(os.environ.get("SYNTHETIC_FACES", "/nonexistent"))
    if not path.is_file():
        pytest.skip("synthetic-faces not extracted (set SYNTHETIC_FACES to its manifest.csv)")
    splits = discover(path)
    assert len(splits["test"].files) == 1200 and sum(splits["test"].labels) == 600
    # train fakes: 4,215 of trainval.csv + 1,156 diffusion portraits of diffusion.csv (SD 1.4, SD 1.x, Meta Imagine);
    # val fakes: 744 + 68 DALL-E 3 rows, of which 27 name a file already listed (read once: 41 distinct images)
    assert sum(splits["train"].labels) == 4215 + 1156 and sum(splits["val"].labels) == 744 + 41
    origin = source_of([path])
    test_sources = {origin[f] for f in splits["test"].files}
    trainval = {origin[f] for s in ("train", "val") for f in splits[s].files}
    assert test_sources and not test_sources & trainval


def _sourced_split(root, cycle):
    """A learnable manifest (24 train, 8 val) whose i-th image comes from source ``cycle[i % len(cycle)]``."""
    rng = np.random.default_rng(0)
    (root / "img").mkdir()
    rows = []
    for split, n in (("train", 24), ("val", 8)):
        for i in range(n):
            name = f"img/{split}-{i}.png"
            Image.fromarray(_image(i % 2, rng)).save(root / name)
            rows.append([name, i % 2, split, cycle[i % len(cycle)]])
    return _manifest(root, rows)


def test_generated_fakes_can_keep_their_backgrounds(tmp_path, caplog):
    """fit.py --plain-background P --plain-background-keep NAME: the faces of matching sources keep their
    background (tests/test_background.py shows the per-face rule), and the run records which sources did."""
    import logging

    from train import fit

    manifest = _sourced_split(tmp_path, ["camera", "gan", "camera", "Diffusion-Y"])
    with caplog.at_level(logging.INFO, logger="train.fit"):
        fit.main(["--data", str(manifest), "--backbones", "meso4", "--img-size", str(SIZE), "--epochs", "1",
                  "--workers", "0", "--batch-size", "8", "--no-cache", "--plain-background", "0.5",
                  "--plain-background-keep", "GAN", "diffusion", "--out", str(tmp_path / "run")])
    training = json.loads((tmp_path / "run" / "best" / "config.json").read_text())["training"]
    assert training["plain_background"] == 0.5 and training["plain_background_keep"] == ["GAN", "diffusion"]
    assert "12 training faces keep their background" in caplog.text  # half of the 24 are gan or Diffusion-Y


def test_training_with_robust_augmentation_and_source_balance(tmp_path):
    from train import fit

    manifest = _sourced_split(tmp_path, ["camera", "gan", "camera", "diffusion"])
    summary = fit.main(["--data", str(manifest), "--backbones", "meso4", "--img-size", str(SIZE), "--epochs", "1",
                        "--augment", "robust", "--balance-sources", "--out", str(tmp_path / "run"), "--workers", "0",
                        "--batch-size", "8"])
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["training"]["balance_sources"] is True and config["training"]["augment"] == "robust"
    assert 0.0 <= summary["best_val_auc"] <= 1.0 and summary["last_epoch"] == 1
    from train.data import balanced_weights, discover, source_of

    split = discover(manifest)["train"]
    weights = balanced_weights(split.files, np.asarray(split.labels), source_of([manifest]))
    by = {}
    for f, y, w in zip(split.files, split.labels, weights):
        by[(y, source_of([manifest])[f])] = by.get((y, source_of([manifest])[f]), 0.0) + w
    assert sum(v for (y, _), v in by.items() if y == 1) == pytest.approx(0.5)  # each class half of the draws


def test_a_held_out_generator_is_kept_out_of_training_and_validation(tmp_path):
    from train import fit

    manifest = _sourced_split(tmp_path, ["camera", "gan", "camera", "Diffusion-Y"])
    common = ["--data", str(manifest), "--backbones", "meso4", "--img-size", str(SIZE), "--epochs", "1",
              "--workers", "0", "--batch-size", "8", "--no-cache"]
    fit.main(common + ["--hold-out-source", "diffusion", "--out", str(tmp_path / "run")])
    training = json.loads((tmp_path / "run" / "best" / "config.json").read_text())["training"]
    assert training["held_out_sources"] == ["diffusion"]
    assert training["train_images"] == 18 and training["val_images"] == 6  # a quarter was that generator
    with pytest.raises(SystemExit, match="no training or validation file has a source matching"):
        fit.main(common + ["--hold-out-source", "difusion", "--out", str(tmp_path / "typo")])


def test_the_soften_probe_changes_only_the_class_it_softens(tmp_path, astronaut, tiny_checkpoint):
    """train/soften_probe.py: softening keeps a crop's size and content and removes detail; softening only the fakes
    leaves the reals' scores as packed (and the other way round), and softening both scores exactly the softened
    crops."""
    import cv2

    from detector.api import Detector
    from train import soften_probe

    face = cv2.resize(astronaut[40:260, 150:370], (64, 64), interpolation=cv2.INTER_AREA)
    crops = np.stack([np.roll(face, 3 * i, axis=1) for i in range(8)])
    assert np.array_equal(soften_probe.soften(crops, 1.0), crops)
    soft = soften_probe.soften(crops, 0.5)
    assert soft.shape == crops.shape and soft.dtype == np.uint8
    detail = [cv2.Laplacian(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for c in (crops[0], soft[0])]
    assert detail[1] < 0.6 * detail[0]
    with pytest.raises(ValueError):
        soften_probe.soften(crops, 0.0)

    folder = tmp_path / "pack"
    (folder / "img").mkdir(parents=True)
    rows = []
    for i, crop in enumerate(crops):
        Image.fromarray(crop).save(folder / "img" / f"{i}.png")
        rows.append([f"img/{i}.png", i % 2, "val", "gan" if i % 2 else "camera"])
    with open(folder / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["file", "label", "split", "source"], *rows])
    result = soften_probe.main(["--model", str(tiny_checkpoint), "--data", str(folder), "--split", "val",
                                "--factors", "0.5", "--out", str(tmp_path / "soften.json")])
    assert json.loads((tmp_path / "soften.json").read_text()) == result
    row = result["datasets"]["pack"]
    detector = Detector.from_pretrained(tiny_checkpoint)
    y = np.array([i % 2 for i in range(8)])
    base, softened = detector.score_crops(crops), detector.score_crops(soft)
    assert row["n"] == 8 and row["as packed"]["roc_auc"] == pytest.approx(roc_auc_score(y, base), abs=1e-4)
    by = row["factors"]["0.5"]
    assert by["fakes softened"]["mean_fake_score_of_reals"] == pytest.approx(base[y == 0].mean(), abs=1e-4)
    assert by["reals softened"]["mean_fake_score_of_fakes"] == pytest.approx(base[y == 1].mean(), abs=1e-4)
    assert by["both softened"]["mean_fake_score_of_reals"] == pytest.approx(softened[y == 0].mean(), abs=1e-4)
    assert by["mean score per source (as packed -> softened)"]["gan"][1] == pytest.approx(softened[y == 1].mean(),
                                                                                           abs=1e-4)


def test_the_edge_probe_scores_each_face_again_cut_by_the_edge(tmp_path, astronaut, tiny_checkpoint):
    """train/edge_probe.py: a photo cut down to its face's box makes the pipeline's square run past the new edge (the
    face is found again, cut); the probe scores that cut photo through analyze_image, per class and per source."""
    from detector.api import Detector
    from train import edge_probe

    detector = Detector.from_pretrained(tiny_checkpoint)
    rows, files = [], []
    for i, photo in enumerate((astronaut, np.ascontiguousarray(astronaut[:, ::-1]))):
        path = tmp_path / f"p{i}.png"
        Image.fromarray(photo).save(path)
        result = detector.analyze_image(photo)
        assert len(result.faces) == 1 and not result.faces[0].at_edge
        face = result.faces[0]
        rows.append({"file": str(path), "label": i, "faces": [{"box": list(face.box), "score": face.score,
                                                              "at_edge": face.at_edge}]})
        files.append([path.name, "real" if i == 0 else "fake", "val", "camera" if i == 0 else "gan"])
    x, y, w, h = rows[0]["faces"][0]["box"]
    close_up = edge_probe.cut_to_face(astronaut, (x, y, w, h))
    assert abs(close_up.shape[0] - max(w, h)) <= 2 and abs(close_up.shape[1] - max(w, h)) <= 2
    with pytest.raises(ValueError):
        edge_probe.cut_to_face(astronaut, (x, y, w, h), 0)
    (tmp_path / "photos.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["file", "label", "split", "source"], *files])
    result = edge_probe.main(["--model", str(tiny_checkpoint), "--photos", str(tmp_path / "photos.jsonl"),
                              "--manifest", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "edge.json")])
    assert json.loads((tmp_path / "edge.json").read_text()) == result
    assert result["n"] == 2 and set(result["per_class"]) == {"real", "fake"}
    again = detector.analyze_image(close_up)
    assert all(f.at_edge for f in again.faces)  # the close-up's face is cut by its edge
    real = result["per_class"]["real"]
    assert real["came_out_cut"] == 1.0
    assert real["mean_score_cut"] == pytest.approx(again.score, abs=1e-4)
    assert real["mean_score_whole"] == pytest.approx(rows[0]["faces"][0]["score"], abs=1e-4)
    assert set(result["per_source"]) == {"camera (real)", "gan (fake)"}
    assert set(result["roc_auc"]) == {"whole", "fakes cut", "reals cut", "both cut"}
