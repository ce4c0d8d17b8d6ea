import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import shared
from detector.api import Detector
from detector.errors import InputError
from detector.results import FaceResult, FrameResult
from detector.video import aggregate, link_tracks, read_frames, sample_indices


def write_clip(path: Path, astronaut: np.ndarray, n: int = 40, faces: int = 1) -> Path:
    """A real MP4 written with OpenCV: the astronaut's head drifting right, twice when faces=2."""
    head = astronaut[30:210, 130:320]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (640, 360))
    assert writer.isOpened()
    for i in range(n):
        frame = np.full((360, 640, 3), 90, np.uint8)
        frame[60:240, 20 + i * 2:210 + i * 2] = head
        if faces == 2:
            frame[80:260, 400:590] = head[:, ::-1]
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def detector(tiny_checkpoint):
    return Detector.from_pretrained(tiny_checkpoint)


def test_sample_indices_are_even_and_bounded():
    assert sample_indices(300, 32)[0] == 0 and sample_indices(300, 32)[-1] == 299
    assert len(sample_indices(300, 32)) == 32
    assert sample_indices(10, 32) == list(range(10))
    assert sample_indices(0, 32) == []


def test_read_frames_decodes_only_the_sampled_frames(tmp_path, astronaut):
    clip = write_clip(tmp_path / "a.mp4", astronaut, n=40)
    info, frames, note = read_frames(clip, n=8)
    got = list(frames)
    assert info.frame_count == 40 and note == ""
    assert [i for i, _ in got] == sample_indices(40, 8)
    assert got[0][1].shape == (360, 640, 3)


def test_max_duration_limits_the_window(tmp_path, astronaut):
    clip = write_clip(tmp_path / "a.mp4", astronaut, n=40)
    info, frames, note = read_frames(clip, n=5, max_duration_s=2.0)
    assert max(i for i, _ in frames) <= 20
    assert "first 2 s" in note


def test_two_people_make_two_tracks_with_per_frame_scores(tmp_path, astronaut, detector):
    clip = write_clip(tmp_path / "two.mp4", astronaut, n=30, faces=2)
    result = detector.analyze_video(clip, frames=10)
    assert len(result.frames) == 10
    assert len(result.tracks) == 2
    assert all(len(t.scores) == 10 for t in result.tracks)
    assert result.score == pytest.approx(max(t.score for t in result.tracks))
    assert result.label in ("real", "fake")
    data = result.to_dict()
    assert data["frames_sampled"] == 10 and all(f["n_faces"] == 2 for f in data["frames"])


def test_frames_without_faces_are_reported(tmp_path, detector):
    path = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for _ in range(12):
        writer.write(np.full((120, 160, 3), 50, np.uint8))
    writer.release()
    result = detector.analyze_video(path, frames=4)
    assert result.frames_without_face == [f.index for f in result.frames] and len(result.frames) == 4
    assert result.score is None and result.label == "no face"
    assert "No face" in result.message


def test_truncated_video_gives_a_clear_error(tmp_path, astronaut, detector):
    clip = write_clip(tmp_path / "a.mp4", astronaut, n=30)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(InputError, match="cut.mp4"):
        detector.analyze_video(cut)


def test_not_a_video_gives_a_clear_error(tmp_path, detector):
    fake = tmp_path / "text.mp4"
    fake.write_text("not a video at all")
    with pytest.raises(InputError, match="not a video"):
        detector.analyze_video(fake)


def test_track_linking_by_overlap():
    def frame(i, boxes):
        return FrameResult(i, i / 10, [FaceResult(list(b), list(b[:3]), 0.9, 0.1 * (k + 1), "real")
                                       for k, b in enumerate(boxes)])

    frames = [frame(0, [(0, 0, 50, 50), (300, 0, 50, 50)]), frame(5, [(305, 2, 50, 50), (4, 3, 50, 50)]),
              frame(9, [(8, 5, 50, 50)])]
    tracks = link_tracks(frames)
    assert [t.frame_indices for t in tracks] == [[0, 5, 9], [0, 5]]


def test_aggregation_rules():
    assert aggregate([0.2, 0.4], "mean") == pytest.approx(0.3)
    assert aggregate([0.2, 0.4], "max") == pytest.approx(0.4)
    confident_fake = [0.95] * 20 + [0.1] * 12
    assert aggregate(confident_fake, "confident") == pytest.approx(0.95)
    assert aggregate([0.05] * 31 + [0.6], "confident") == pytest.approx(0.05)
    assert aggregate([0.1, 0.2, 0.9], "median") == pytest.approx(0.2)
    assert aggregate([0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 0.8, 0.7], "top25") == pytest.approx(0.85)  # the top 2 of 8
    with pytest.raises(InputError):
        aggregate([0.1], "bogus")


def test_dfdc_clip_end_to_end(detector):
    folder = shared("dfdc-videos")
    row = next(csv.DictReader(open(folder / "manifest.csv")))
    result = detector.analyze_video(folder / row["file"], frames=8)
    assert len(result.frames) == 8
    assert result.tracks and len(result.tracks[0].scores) >= 6  # the person is found in most frames
    assert 0.0 <= result.score <= 1.0
