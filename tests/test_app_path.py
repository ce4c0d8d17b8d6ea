"""The product path is the benchmark: training crops made exactly as inference makes them, identical processing of
reals and fakes, what counts as a person in a clip, clip-level calibration and clip-level evaluation."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from detector.api import Detector
from detector.config import Preprocessing
from detector.errors import ConfigError
from detector.model import FusionDetector


def _layout(folder: Path, files: dict[str, tuple[str, str]]) -> Path:
    """A manifest dataset: name -> (label, split)."""
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "split"])
        for name, (label, split) in files.items():
            w.writerow([name, label, split])
    return folder


@pytest.mark.parametrize("inside", [False, True])
def test_packing_and_inference_make_the_same_crop(tmp_path, astronaut, tiny_checkpoint, inside):
    """The same crop from pack.py --detect-faces and from the Detector, for a face seen whole and for a close-up whose
    square runs past the photo's edge (black fill, or with crop_inside moved inside the photo)."""
    import json
    import shutil

    from train import pack

    folder = tmp_path / "photos"
    folder.mkdir()
    photo = np.pad(astronaut, ((40, 0), (0, 90), (0, 0)), constant_values=70)  # off-centre, wider than tall
    Image.fromarray(photo).save(folder / "a.png")
    Image.fromarray(np.maximum(astronaut[60:250, 160:350], 1)).save(folder / "close.png")  # face fills it, no black
    _layout(folder, {"a.png": ("real", "train"), "close.png": ("real", "train")})
    checkpoint = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    config["preprocessing"]["crop_inside"] = inside
    (checkpoint / "config.json").write_text(json.dumps(config))
    detector = Detector.from_pretrained(checkpoint)
    pre = detector.pre
    pack.main(["--data", str(folder), "--out", str(tmp_path / "p"), "--count", "train=all", "--format", "png",
               "--size", str(pre.img_size), "--detect-faces", "--crop-margin", str(pre.crop_margin),
               *(["--crop-inside"] if inside else [])])
    rows = {Path(r["file"]).name: r for r in csv.DictReader(open(tmp_path / "p" / "manifest.csv"))}
    assert len(rows) == 2
    for name in ("a.png", "close.png"):
        packed_file = next(tmp_path / "p" / r["file"] for n, r in rows.items() if Path(name).stem in n)
        with Image.open(packed_file) as im:
            packed = np.asarray(im.convert("RGB"))
        face = detector.analyze_image(folder / name, keep_crops=True).faces[0]
        assert face.at_edge == (name == "close.png")
        assert packed.shape == face.crop.shape and np.array_equal(packed, face.crop), name
        if name == "close.png":  # black fill only without crop_inside
            assert bool((packed == 0).all(-1).any()) != inside


def test_a_real_and_a_fake_of_the_same_pixels_pack_to_the_same_bytes(tmp_path, astronaut):
    from train import pack

    folder = tmp_path / "mixed"
    folder.mkdir()
    rgb = np.ascontiguousarray(astronaut[::2, ::2])
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "a portrait, Steps: 50, Sampler: k_lms, Model: stable-diffusion-1.4")
    Image.fromarray(rgb).save(folder / "fake.png", pnginfo=meta)  # a generator's PNG with its metadata
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    Image.fromarray(rgb).save(folder / "real.webp", lossless=True, exif=exif)  # a camera's file, other format
    _layout(folder, {"fake.png": ("fake", "train"), "real.webp": ("real", "train")})
    for extra in ([], ["--detect-faces"], ["--detect-faces", "--match-resolution"]):
        out = tmp_path / f"p{len(extra)}"
        pack.main(["--data", str(folder), "--out", str(out), "--count", "train=all", "--format", "jpeg", "--size",
                   "64", "--quality", "40-95", *extra])
        rows = list(csv.DictReader(open(out / "manifest.csv")))
        by_label = {r["label"]: (out / r["file"]).read_bytes() for r in rows}
        assert set(by_label) == {"0", "1"} and by_label["0"] == by_label["1"], extra
        with Image.open(out / rows[0]["file"]) as im:
            assert not im.getexif() and "parameters" not in im.info


def test_match_resolution_shrinks_photos_to_the_reals_sides_before_the_face_is_found(tmp_path, astronaut):
    """pack.py --match-resolution: a 512 px fake photo reaches the face pipeline at the 200 px side of the pack's
    real photo, the real one unchanged, so fine detail no longer comes with one label."""
    from detector.config import Preprocessing
    from train import pack
    from train.data import FaceCropping, shrink_to

    folder = tmp_path / "sizes"
    folder.mkdir()
    small = cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA)
    Image.fromarray(astronaut).save(folder / "large_fake.png")
    Image.fromarray(small).save(folder / "small_real.png")
    _layout(folder, {"large_fake.png": ("fake", "train"), "small_real.png": ("real", "train")})
    faces = FaceCropping(Preprocessing(img_size=128))

    def packed(extra: list[str]) -> dict[str, np.ndarray]:
        out = tmp_path / f"p{len(extra)}"
        info = pack.main(["--data", str(folder), "--out", str(out), "--count", "train=all", "--format", "png",
                          "--size", "128", "--detect-faces", *extra])
        assert info["match_resolution"] == bool(extra)
        return {r["label"]: np.asarray(Image.open(out / r["file"]).convert("RGB"))
                for r in csv.DictReader(open(out / "manifest.csv"))}

    matched, plain = packed(["--match-resolution"]), packed([])
    assert shrink_to(astronaut, 200).shape == (200, 200, 3) and shrink_to(small, 300) is small
    assert np.array_equal(matched["1"], faces.crops(folder / "large_fake.png", lambda rgb: 200)[0])
    # the fake photo, shrunk to the real photo's side, is the real photo's pixels: the same crop
    assert np.array_equal(matched["1"], matched["0"])
    assert not np.array_equal(matched["1"], plain["1"])  # the fake's crop lost the detail of its 512 px photo
    assert np.array_equal(matched["0"], plain["0"])  # the real photo is no longer than the reals' sides
    with pytest.raises(SystemExit, match="needs --detect-faces"):
        pack.main(["--data", str(folder), "--out", str(tmp_path / "x"), "--format", "png", "--size", "64",
                   "--match-resolution"])


def test_quality_ranges_are_parsed_and_checked():
    import argparse

    from train.pack import parse_quality

    assert parse_quality("90") == (90, 90) and parse_quality("60-95") == (60, 95)
    for bad in ("95-60", "0", "abc", "50-101"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_quality(bad)


def write_clip(path: Path, astronaut: np.ndarray, n: int, brief: set[int]) -> Path:
    """The astronaut's head in every frame, and a second, smaller head in the frames of ``brief`` only."""
    head = astronaut[30:210, 130:320]
    small = cv2.resize(head, (95, 90))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (640, 360))
    for i in range(n):
        frame = np.full((360, 640, 3), 90, np.uint8)
        frame[60:240, 20 + i:210 + i] = head
        if i in brief:
            frame[200:290, 480:575] = small
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_a_face_seen_in_two_frames_is_not_a_person(tmp_path, astronaut, tiny_checkpoint):
    clip = write_clip(tmp_path / "clip.mp4", astronaut, n=12, brief={4, 5})
    result = Detector.from_pretrained(tiny_checkpoint).analyze_video(clip, frames=12)
    seen = [len(f.faces) for f in result.frames]
    assert seen[4] == seen[5] == 2 and seen[0] == 1  # the detector did find the brief face
    assert len(result.tracks) == 1 and result.tracks_dropped == 1
    assert len(result.tracks[0].scores) == 12 and result.top_track == 1 and result.tracks[0].id == 1
    assert result.to_dict()["tracks_dropped"] == 1


def test_person_rule():
    from detector.results import Track
    from detector.video import is_person

    def track(n):
        return Track(0, list(range(n)), [0.5] * n, [[0, 0, 10, 10]] * n)

    assert is_person(track(32), 32, 32) and not is_person(track(2), 32, 32) and not is_person(track(9), 32, 32)
    assert is_person(track(10), 32, 32)  # 30 % of the sampled frames
    assert is_person(track(2), 32, 2)  # the longest track always counts
    assert is_person(track(2), 2, 2) and not is_person(track(1), 4, 3)


def test_clip_calibration_round_trips_through_config_json(tmp_path):
    model = FusionDetector(["meso4"], preprocessing={"img_size": 64, "threshold": 0.6, "uncertain_band": [0.3, 0.8],
                                                      "video_aggregation": "median", "video_threshold": 0.35,
                                                      "video_uncertain_band": [0.2, 0.5]})
    loaded = FusionDetector.from_pretrained(model.save_checkpoint(tmp_path / "ck"))
    assert loaded.preprocessing == model.preprocessing
    config = json.loads((tmp_path / "ck" / "config.json").read_text())["preprocessing"]
    assert config["video_threshold"] == 0.35 and config["threshold"] == 0.6  # stored apart from the per-face one
    detector = Detector(loaded)
    assert detector.label_for(0.4) == "uncertain" and detector.label_for(0.4, clip=True) == "uncertain"
    assert detector.label_for(0.55, clip=True) == "fake" and detector.label_for(0.55) == "uncertain"
    assert detector.label_for(0.1, clip=True) == "real"
    with pytest.raises(ConfigError):
        Preprocessing(video_threshold=0.3, video_uncertain_band=[0.4, 0.5])
    with pytest.raises(ConfigError):
        Preprocessing(video_aggregation="vote")
    old = replace(Preprocessing(), uncertain_band=(0.2, 0.7), threshold=0.5)  # no clip calibration: the face one
    assert old.clip_threshold == 0.5 and old.clip_band == (0.2, 0.7)


def test_clip_calibration_chooses_on_the_clips(tmp_path, tiny_checkpoint):
    from train import calibrate_clips

    rng = np.random.default_rng(0)
    clips = []
    for i in range(40):
        label = i % 2
        if label:  # a fake shows in a quarter of its frames, clearly
            scores = np.r_[0.7 + 0.05 * rng.random(4), 0.1 + 0.03 * rng.random(12)]
        else:  # a real has a few middling frames
            scores = np.r_[0.45 + 0.05 * rng.random(3), 0.1 + 0.35 * rng.random(13)]
        clips.append({"label": label, "tracks": [{"scores": scores.tolist()}]})
    path = tmp_path / "clips.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in clips))
    result = calibrate_clips.main(["--model", str(tiny_checkpoint), "--clips", str(path), "--out",
                                   str(tmp_path / "out")])
    table = result["auc_by_aggregation"]
    assert result["aggregation"] == "top25" and table["top25"] == 1.0 and table["mean"] < 1.0, table
    assert result["real_clips_called_fake"] <= 0.1 and result["fake_clips_called_fake"] == 1.0
    detector = Detector.from_pretrained(tmp_path / "out")
    assert detector.pre.video_aggregation == result["aggregation"]
    assert detector.pre.video_threshold == result["threshold"]
    assert "clip_calibration" in json.loads((tmp_path / "out" / "config.json").read_text())


def test_video_evaluation_on_two_generated_clips(tmp_path, astronaut, tiny_checkpoint):
    from train import evaluate

    data = tmp_path / "clips"
    data.mkdir()
    write_clip(data / "real.mp4", astronaut, n=10, brief=set())
    write_clip(data / "fake.mp4", astronaut[:, ::-1].copy(), n=10, brief=set())
    write_clip(data / "other.mp4", astronaut, n=10, brief=set())
    with open(data / "manifest.csv", "w", newline="") as fh:
        fh.write("file,label,split,kind\nreal.mp4,real,test,camera\nfake.mp4,fake,test,swap\nother.mp4,real,val,x\n")
    metrics = evaluate.main(["--model", str(tiny_checkpoint), "--data", str(data), "--split", "test", "--frames",
                             "4", "--out", str(tmp_path / "out")])
    assert metrics["n"] == 2 and metrics["split"] == "test" and metrics["level"].startswith("video")
    assert metrics["roc_auc"] is not None and set(metrics["verdicts"]) == {"fake", "real"}
    assert sum(v for k, v in metrics["verdicts"]["real"].items() if k != "n") == pytest.approx(1.0)
    assert {r["source"] for r in metrics["per_source"]} == {"camera", "swap"}
    clips = [json.loads(line) for line in (tmp_path / "out" / "clips.jsonl").read_text().splitlines()]
    assert len(clips) == 2 and all(len(c["tracks"][0]["scores"]) == 4 for c in clips)
    assert (tmp_path / "out" / "metrics.md").read_text().count("Verdicts a user gets") == 1


def test_the_card_and_the_scope_line_carry_per_generator_figures(tmp_path, tiny_checkpoint):
    import shutil

    from train import model_card

    folder = tmp_path / "model"
    shutil.copytree(tiny_checkpoint, folder)
    evaluation = tmp_path / "synthetic-test"
    evaluation.mkdir()
    per_source = [{"source": "stable-diffusion-2.1:SDFD", "label": "fake", "n": 300, "roc_auc": 0.8123,
                   "accuracy": 0.7, "mean_score": 0.6},
                  {"source": "stylegan3:pool", "label": "fake", "n": 300, "roc_auc": 0.7456, "accuracy": 0.6,
                   "mean_score": 0.5},
                  {"source": "amfd", "label": "real", "n": 109, "roc_auc": 0.7, "accuracy": 0.9, "mean_score": 0.2}]
    metrics = {"n": 709, "accuracy": 0.8, "roc_auc": 0.7789, "per_source": per_source, "split": "test",
               "level": "image (detected faces)", "data": "/x/synthetic", "command": "python train/evaluate.py ..."}
    (evaluation / "metrics.json").write_text(json.dumps(metrics))
    card = model_card.main(["--model", str(folder), "--eval", str(evaluation), "--generators", str(evaluation),
                            "--scope", "Trained on face swaps and generated faces. Covered: {generators}."])
    scope = json.loads((folder / "config.json").read_text())["scope"]
    assert "stable-diffusion-2.1 0.81" in scope and "stylegan3 0.75" in scope and "0.78" in scope
    assert scope in card and "| stable-diffusion-2.1:SDFD | fake | 300 | 0.8123" in card
    assert Detector.from_pretrained(folder).scope == scope


def test_extract_brings_the_diffusion_portraits(tmp_path):
    """Data test: with the synthetic-faces repositories fetched (``DATA_MIRROR``, default ../.mirror beside the
    repository), extract.py also reads diffusion.csv; its validation split holds the DALL-E 3 group photos."""
    import os
    import subprocess
    import sys

    from conftest import ROOT, shared

    script = shared("synthetic-faces") / "extract.py"
    mirror = Path(os.environ.get("DATA_MIRROR", ROOT.parent / ".mirror"))
    wanted = {row.split(",")[0] for row in (script.parent / "diffusion.csv").read_text().splitlines()[1:]}
    if not all((mirror / repo.replace("/", "+")).is_dir() for repo in wanted):
        pytest.skip(f"the synthetic-faces repositories are not fetched into {mirror}")
    proc = subprocess.run([sys.executable, str(script), "--mirror", str(mirror), "--out", str(tmp_path / "out"),
                           "--splits", "val"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "out" / "manifest.csv")))
    dalle = [r for r in rows if r["source"] == "dalle3"]
    assert len(dalle) == 68 and {r["label"] for r in dalle} == {"fake"} and {r["split"] for r in rows} == {"val"}
    # the source's chatgpt/ and microsoft/ folders share 27 file names, which extract.py writes to one path: 41
    # distinct images, and the loader reads each listed file once
    assert len({r["file"] for r in dalle}) == 41
    from train.data import discover

    val = discover(tmp_path / "out" / "manifest.csv")["val"]
    assert len(val.files) == len(set(val.files)) == len({r["file"] for r in rows})
    with Image.open(tmp_path / "out" / dalle[0]["file"]) as im:
        im.load()  # a real, decodable picture


def test_photo_evaluation_records_every_face(tmp_path, astronaut, tiny_checkpoint):
    """evaluate.py --detect-faces scores photos as the app does and keeps each photo's faces (box, detector
    confidence, score) in photos.jsonl, so rules for which faces decide a photo can be measured without rescoring."""
    from detector.api import Detector
    from train import evaluate

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "one.png")
    Image.fromarray(np.concatenate([astronaut, astronaut], axis=1)).save(folder / "two.png")
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(folder / "none.png")
    _layout(folder, {"one.png": ("real", "test"), "two.png": ("fake", "test"), "none.png": ("real", "test")})
    evaluate.main(["--model", str(tiny_checkpoint), "--data", str(folder), "--split", "test", "--detect-faces",
                   "--out", str(tmp_path / "ev")])
    records = {Path(r["file"]).name: r for r in map(json.loads, open(tmp_path / "ev" / "photos.jsonl"))}
    assert [len(records[n]["faces"]) for n in ("one.png", "two.png", "none.png")] == [1, 2, 0]
    detector = Detector.from_pretrained(tiny_checkpoint)
    result = detector.analyze_image(folder / "two.png")
    assert [f["box"] for f in records["two.png"]["faces"]] == [f.box for f in result.faces]
    assert [f["at_edge"] for f in records["two.png"]["faces"]] == [f.at_edge for f in result.faces] == [False, False]
    assert max(f["score"] for f in records["two.png"]["faces"]) == pytest.approx(result.score, abs=1e-5)
    assert records["none.png"]["whole_image_score"] is not None and records["one.png"]["whole_image_score"] is None


def test_photo_rules_table_measures_which_faces_decide():
    from train.photo_rules import photo_score, table

    # a real group photo whose one false alarm is a small, unsure face, and a fake close-up
    real = {"label": 0, "whole_image_score": None, "faces": [
        {"box": [0, 0, 120, 120], "confidence": 0.95, "score": 0.2},
        {"box": [300, 10, 30, 30], "confidence": 0.55, "score": 0.9}]}
    fake = {"label": 1, "whole_image_score": None, "faces": [{"box": [0, 0, 150, 150], "confidence": 0.9,
                                                               "score": 0.8}]}
    faceless = {"label": 0, "whole_image_score": 0.1, "faces": []}
    assert photo_score(real) == 0.9 and photo_score(real, 0.7) == 0.2 and photo_score(real, 0.0, 64) == 0.2
    assert photo_score(real, 0.99) == 0.9  # no face qualifies: all faces decide
    assert photo_score(faceless) == 0.1
    result = table([real, fake, faceless], 0.5)
    assert result["rules"]["conf>=0.5 side>=0"]["real_called_fake"] == 0.5
    assert result["rules"]["conf>=0.7 side>=0"]["real_called_fake"] == 0.0
    assert result["faces_by_size"]["0-48 px real"] == {"n": 1, "called_fake": 1.0}
    assert result["faces_by_edge"] == {}  # records without at_edge (an older evaluate.py): no edge rows

    # the app's rule: a face cut by the photo's edge decides only when no whole face is there
    for record in (real, fake, faceless):
        for face in record["faces"]:
            face["at_edge"] = face["box"][0] >= 300
    assert photo_score(real, whole=True) == 0.2 and photo_score(fake, whole=True) == 0.8
    edge = table([real, fake, faceless], 0.5)
    assert edge["rules"]["every face decides"]["real_called_fake"] == 0.5
    assert edge["rules"]["whole faces decide (the app)"]["real_called_fake"] == 0.0
    assert edge["faces_by_edge"]["cut by the edge"]["n"] == 1 and edge["faces_by_edge"]["whole"]["n"] == 2


def test_temporal_features_are_the_faces_own_scores(tmp_path, astronaut, tiny_checkpoint):
    """The temporal comparison reads each person's fused hidden features; the head on them gives the app's scores."""
    from train import temporal

    clip = write_clip(tmp_path / "clip.mp4", astronaut, n=8, brief=set())
    detector = Detector.from_pretrained(tiny_checkpoint, backend="torch")
    persons = temporal.person_features(detector, str(clip), frames=8)
    result = detector.analyze_video(clip, frames=8)
    assert len(persons) == len(result.tracks) == 1
    assert persons[0]["hidden"].shape == (8, detector.model.hidden)
    probabilities = 1 / (1 + np.exp(-persons[0]["logit"].astype(np.float64)))
    np.testing.assert_allclose(probabilities, result.tracks[0].scores, atol=1e-4)


def test_temporal_heads_find_a_signal_that_the_mean_misses():
    """Fakes flicker (one hidden unit varies across frames) while their mean score is the reals': the pooled and the
    attention heads fitted on train clips see it on val clips, the mean of per-frame scores cannot."""
    from train import temporal

    rng = np.random.default_rng(0)

    def clip(label, split, group):
        hidden = rng.normal(1.0, 0.3, (16, 8)).astype(np.float32)
        if label:
            hidden[:, 3] = np.where(np.arange(16) % 2 == 0, 2.0, 0.0) + rng.normal(0, 0.1, 16)
        logit = rng.normal(0.0, 0.5, 16).astype(np.float32)  # the same per-frame scores for both classes
        return {"label": label, "split": split, "group": group, "persons": [{"hidden": hidden, "logit": logit}]}

    clips = [clip(i % 2, "train", f"g{i // 2}") for i in range(30)] + [clip(i % 2, "val", "v") for i in range(20)]
    result = temporal.compare(clips, seeds=2)
    rules = result["rules"]
    assert result["train_clips"] == 30 and result["val_clips"] == 20
    assert rules["mean"]["val_roc_auc"] < 0.8
    assert rules["pooled"]["val_roc_auc"] > 0.95 and rules["pooled"]["vs_mean"]["low"] > 0
    assert rules["attention"]["val_roc_auc"] > 0.9
