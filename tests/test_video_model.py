"""A checkpoint with a second model for videos (train/video_model.py): photos and live streams are scored by the
first, videos by the second with its own aggregation and clip calibration, in the library, the app's settings, a Hub
cache read offline and the private page's build. Real (untrained) tiny checkpoints, real MediaPipe on a real clip."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import prefill_hub_cache
from test_video import write_clip

from detector.api import Detector
from detector.checkpoint import read_preprocessing
from detector.errors import CheckpointError
from detector.model import FusionDetector
from train import video_model

ROOT = Path(__file__).resolve().parents[1]
VIDEO_PRE = {"img_size": 64, "video_aggregation": "max", "video_frames": 12, "video_threshold": 0.3,
             "video_uncertain_band": [0.2, 0.4]}


@pytest.fixture(scope="module")
def clips_model(tmp_path_factory) -> Path:
    """A second tiny checkpoint (other weights, its own clip rule and calibration), as a video model would be."""
    torch.manual_seed(1)
    model = FusionDetector(["resnet18", "meso4"], preprocessing=VIDEO_PRE)
    return model.save_checkpoint(tmp_path_factory.mktemp("clips") / "clips")


@pytest.fixture(scope="module")
def composite(tiny_checkpoint, clips_model, tmp_path_factory) -> Path:
    return video_model.main(["--model", str(tiny_checkpoint), "--video", str(clips_model),
                             "--out", str(tmp_path_factory.mktemp("both") / "both")])


@pytest.fixture(scope="module")
def clip(tmp_path_factory, astronaut) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", astronaut, n=24)


def _frame_scores(result) -> list[float]:
    return [f.score for frame in result.frames for f in frame.faces]


def test_photos_and_streams_by_the_first_model_videos_by_the_second(composite, tiny_checkpoint, clips_model, clip,
                                                                     astronaut):
    both = Detector.from_pretrained(composite)
    photos, videos = Detector.from_pretrained(tiny_checkpoint), Detector.from_pretrained(clips_model)
    assert both.video is not both and both.video.model is not both.model

    image = both.analyze_image(astronaut)
    assert image.faces and image.faces[0].score == pytest.approx(photos.analyze_image(astronaut).faces[0].score,
                                                                 abs=1e-6)

    got, want, other = both.analyze_video(clip), videos.analyze_video(clip), photos.analyze_video(clip, frames=12)
    assert len(got.frames) == 12 and got.aggregation == "max"  # the video model's own rule and frame count
    assert np.allclose(_frame_scores(got), _frame_scores(want), atol=1e-6)
    assert not np.allclose(_frame_scores(got), _frame_scores(other), atol=1e-3)
    assert got.score == pytest.approx(want.score) and got.label == want.label
    assert got.threshold == 0.3 and got.uncertain_band == [0.2, 0.4]  # its clip calibration
    assert got.model.endswith("(model for videos)") and "(model for videos)" not in image.model

    frames = [np.ascontiguousarray(astronaut)] * 3  # a live stream is judged face by face: the first model
    live = list(both.stream(frames))
    expected = photos.score_frame(frames[0])[0].score
    assert live[0].persons and live[0].persons[0].score == pytest.approx(expected, abs=1e-6)
    assert abs(expected - videos.score_frame(frames[0])[0].score) > 1e-3


def test_the_app_sliders_start_at_the_video_models_settings(composite, monkeypatch):
    import app

    monkeypatch.setenv("DEEPFAKE_DEFAULT_MODEL", str(composite))
    settings = app._bundled_settings()
    assert (settings.video_frames, settings.video_aggregation) == (12, "max")
    assert settings.threshold == read_preprocessing(composite).threshold
    assert read_preprocessing(composite, video=True).video_threshold == 0.3


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_the_model_for_videos_is_checked_like_the_first(composite, clips_model, tiny_checkpoint, tmp_path):
    tampered = _copy(composite, tmp_path / "tampered")
    weights = tampered / "video" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-8:] = bytes(8)
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        Detector.from_pretrained(tampered, require_hash=True)

    missing = _copy(composite, tmp_path / "missing")
    shutil.rmtree(missing / "video")
    with pytest.raises(CheckpointError, match="does not hold"):
        Detector.from_pretrained(missing)

    elsewhere = _copy(composite, tmp_path / "elsewhere")
    config = json.loads((elsewhere / "config.json").read_text())
    config["video_model"] = "../clips"
    (elsewhere / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="'video_model' must be 'video'"):
        Detector.from_pretrained(elsewhere)

    with pytest.raises(SystemExit, match="names a model for videos of its own"):
        video_model.main(["--model", str(tiny_checkpoint), "--video", str(composite), "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_a_hub_repo_with_a_model_for_videos_loads_offline_from_the_cache(composite, clips_model, tmp_path):
    """The Hub snapshot holds video/ too (the download asks for it); loaded by repo id with HF_HUB_OFFLINE=1."""
    prefill_hub_cache(composite, tmp_path / "hub", "acme/two-models")
    code = (
        "import torch; from detector.api import Detector;"
        "d = Detector.from_pretrained('acme/two-models');"
        f"v = Detector.from_pretrained({str(clips_model)!r});"
        "x = torch.rand(2, 3, 64, 64);"
        "print(d.video.pre.video_aggregation, bool(torch.allclose(d.video.model(x), v.model(x))))"
    )
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "max True"


def test_the_private_page_carries_the_model_for_videos(composite, clips_model, tmp_path):
    from detector.export import OnnxScorer
    from detector.private_page import build, node_modules

    if not (node_modules() / "onnxruntime-web").is_dir():
        pytest.skip("the private page's npm packages are not installed (npm ci)")
    out = build(tmp_path / "page", composite)
    assert json.loads((out / "config.json").read_text())["video_model"] == "video"
    spec = json.loads((out / "video" / "config.json").read_text())
    assert spec["preprocessing"]["video_aggregation"] == "max" and spec["preprocessing"]["video_threshold"] == 0.3
    crops = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    videos = Detector.from_pretrained(clips_model, backend="torch")
    scorer = OnnxScorer(out / "video" / "model.onnx")
    got = scorer.predict_proba(videos.to_tensor(crops).cpu().numpy())
    assert np.allclose(got, videos.score_crops(crops), atol=1e-4)


def test_calibration_refuses_a_checkpoint_with_two_models(composite, tmp_path):
    from train import calibrate, calibrate_clips

    with pytest.raises(SystemExit, match="carries a model for videos"):
        calibrate_clips.main(["--model", str(composite), "--clips", str(tmp_path / "clips.jsonl"),
                              "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match="carries a model for videos"):
        calibrate.main(["--model", str(composite), "--data", str(tmp_path), "--split", "val",
                        "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_the_model_card_describes_the_model_for_videos(composite, tmp_path):
    from train import model_card

    folder = _copy(composite, tmp_path / "card")
    text = model_card.main(["--model", str(folder)])
    section = text.split("## Model for videos", 1)[1]
    assert "second checkpoint in `video/`" in section and "resnet18+meso4, 64 px" in section
    assert (folder / "README.md").read_text() == text


def test_a_video_evaluation_judges_clips_by_the_model_for_videos(composite, clips_model, tmp_path, astronaut):
    from train import evaluate

    data = tmp_path / "clips"
    data.mkdir()
    write_clip(data / "real.mp4", astronaut, n=12)
    write_clip(data / "fake.mp4", np.ascontiguousarray(astronaut[:, ::-1]), n=12)
    (data / "manifest.csv").write_text("file,label,split\nreal.mp4,real,test\nfake.mp4,fake,test\n")
    metrics = evaluate.main(["--model", str(composite), "--data", str(data), "--split", "test",
                             "--out", str(tmp_path / "out")])
    assert metrics["threshold"] == 0.3  # the accuracy is placed at the model for videos' clip threshold
    assert "(model for videos)" in metrics["model"]
    clips = {Path(c["file"]).name: c for c in map(json.loads, (tmp_path / "out" / "clips.jsonl").open())}
    alone = Detector.from_pretrained(clips_model).analyze_video(data / "fake.mp4")
    assert clips["fake.mp4"]["score"] == pytest.approx(alone.score, abs=1e-6)
    assert len(clips["fake.mp4"]["tracks"][0]["scores"]) == 12  # its 12 frames, not the photo model's 32
