"""Live streams and the scoring path: per-person smoothing that settles, Detector.stream, the CLI's --stream, the
ONNX Runtime path chosen by measurement, and video evidence chosen in one place (analyze_video(explain=k))."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from detector.api import Detector
from detector.errors import ConfigError
from detector.live import LiveTracker
from detector.results import FaceResult
from test_video import write_clip


def faces(*items):
    """FaceResults from (x, score) pairs: 60 px boxes on one row."""
    return [FaceResult([x, 20, 60, 60], [x, 20, 60], 0.9, s, "") for x, s in items]


def label_at(score: float) -> str:
    return "uncertain" if 0.3 <= score < 0.7 else "fake" if score >= 0.5 else "real"


def test_a_verdict_waits_for_evidence_then_holds_near_a_boundary():
    tracker = LiveTracker(label_at, alpha=0.5, min_frames=3, hysteresis=0.05)
    labels = [tracker.update(faces((100, 0.1)))[0].label for _ in range(4)]
    assert labels == ["uncertain", "uncertain", "real", "real"]  # thin evidence first
    person = tracker.people[0]
    for score in (0.30, 0.29, 0.31, 0.28, 0.32):  # hovering at the band's edge: the verdict does not flip
        seen = tracker.update(faces((102, score)))[0]
    assert seen.label == "real" and 0.25 < seen.smoothed < 0.35 and person.frames == 9
    for _ in range(6):  # clearly fake now
        seen = tracker.update(faces((104, 0.95)))[0]
    assert seen.label == "fake" and seen.id == 1


def test_people_keep_their_numbers_and_are_forgotten_when_gone():
    tracker = LiveTracker(label_at, max_missing=2)
    first = tracker.update(faces((10, 0.1), (300, 0.9)))
    assert [p.id for p in first] == [1, 2]
    moved = tracker.update(faces((305, 0.9), (14, 0.1)))  # listed in another order, both moved a little
    assert [(p.id, p.box[0]) for p in moved] == [(1, 14), (2, 305)]
    for _ in range(3):
        tracker.update(faces((16, 0.1)))
    assert [p.id for p in tracker.people] == [1]  # person 2 left the frame
    assert tracker.update(faces((16, 0.1), (500, 0.5)))[1].id == 3  # a newcomer gets a new number


@pytest.fixture(scope="module")
def detector(tiny_checkpoint):
    return Detector.from_pretrained(tiny_checkpoint)


def test_detector_stream_yields_one_result_per_frame(detector, astronaut):
    frames = []
    for i in range(8):
        frame = np.full((360, 640, 3), 90, np.uint8)
        frame[60:240, 20 + 3 * i:210 + 3 * i] = astronaut[30:210, 130:320]
        frames.append(frame)
    results = list(detector.stream(frames, min_frames=3))
    assert [r.index for r in results] == list(range(8))
    assert all(len(r.persons) == 1 and r.persons[0].id == 1 for r in results)
    assert [r.persons[0].frames for r in results] == list(range(1, 9))
    assert results[0].label == "uncertain" and results[-1].label in ("real", "fake", "uncertain")
    assert results[-1].latency_ms > 0 and results[-1].fps > 0
    assert json.loads(json.dumps(results[-1].to_dict()))["persons"][0]["smoothed"] == pytest.approx(
        results[-1].persons[0].smoothed, abs=1e-6)


def test_cli_stream_prints_a_line_per_frame(tmp_path, astronaut, tiny_checkpoint):
    clip = write_clip(tmp_path / "clip.mp4", astronaut, n=12)
    proc = subprocess.run([sys.executable, "-m", "detector", "--stream", str(clip), "--model", str(tiny_checkpoint)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 12 and lines[-1]["persons"][0]["frames"] >= 10
    assert "12 frame(s)" in proc.stderr and "Traceback" not in proc.stderr
    both = subprocess.run([sys.executable, "-m", "detector", str(clip), "--stream", str(clip)], capture_output=True,
                          text=True, timeout=60)
    assert both.returncode == 2 and "one of the two" in both.stderr


def test_the_runtime_scores_with_onnx_only_within_1e_4_of_pytorch(tiny_checkpoint, astronaut):
    from detector.model import FusionDetector
    from detector.runtime import Runtime

    crops = np.stack([astronaut[i:i + 64, i:i + 64] for i in range(0, 240, 30)])
    torch_scores = Runtime(FusionDetector.from_pretrained(tiny_checkpoint), "cpu", "fp32").scores(crops)
    onnx = Runtime(FusionDetector.from_pretrained(tiny_checkpoint), "cpu", "fp32", backend="onnx")
    assert onnx.backend == "onnx" and onnx.choice["onnx_max_score_difference"] <= 1e-4
    assert np.abs(onnx.scores(crops) - torch_scores).max() <= 1e-4
    auto = Runtime(FusionDetector.from_pretrained(tiny_checkpoint), "cpu", "fp32", backend="auto")
    assert auto.backend in ("torch", "onnx") and {"torch_ms", "onnx_ms"} <= set(auto.choice)
    assert auto.backend == min(("torch", "onnx"), key=lambda b: auto.choice[f"{b}_ms"])
    with pytest.raises(ConfigError, match="backend"):
        Runtime(FusionDetector.from_pretrained(tiny_checkpoint), "cpu", "fp32", backend="tensorrt")


def test_heatmaps_still_come_from_pytorch_on_the_onnx_path(tiny_checkpoint, astronaut):
    detector = Detector.from_pretrained(tiny_checkpoint, backend="onnx", precision="fp32")
    assert detector.runtime.backend == "onnx"
    result = detector.analyze_image(astronaut, explain=True)
    assert result.faces and set(result.faces[0].heatmaps) == {"resnet18", "meso4", "fused"}


def test_evidence_frames_are_chosen_by_analyze_video(tmp_path, astronaut, detector):
    clip = write_clip(tmp_path / "two.mp4", astronaut, n=20, faces=2)
    result = detector.analyze_video(clip, frames=8, explain=2)
    assert len(result.tracks) == 2 and [t.id for t in result.tracks] == [1, 2]
    for track in result.tracks:
        assert len(track.evidence) == 2
        assert track.evidence[0].face.score == max(track.scores)  # the most suspicious first
        assert track.evidence[0].face.score >= track.evidence[1].face.score
        assert set(track.evidence[0].face.heatmaps) == {"resnet18", "meso4", "fused"}
        assert track.evidence[0].frame_index in track.frame_indices
    data = result.to_dict()
    assert len(data["tracks"][0]["evidence"]) == 2 and data["tracks"][0]["evidence"][0]["heatmaps"]
    plain = detector.analyze_video(clip, frames=8)
    assert all(not t.evidence for t in plain.tracks) and all(f.crop is None for t in plain.tracks for f in t.faces)
