import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from test_video import write_clip


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "detector", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut):
    folder = tmp_path_factory.mktemp("inputs")
    Image.fromarray(astronaut).save(folder / "astronaut photo.jpg")
    from skimage import data

    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    write_clip(folder / "clip.mp4", astronaut, n=20)
    (folder / "broken.jpg").write_text("this is text, not a JPEG")
    return folder


def test_cli_mixes_images_videos_and_bad_files(inputs, tiny_checkpoint, tmp_path):
    out = tmp_path / "out.jsonl"
    cams = tmp_path / "cams"
    proc = run_cli(inputs, "--model", tiny_checkpoint, "--json", out, "--cams", cams, "--frames", "6", "-q")
    assert proc.returncode == 1, proc.stderr  # one file failed
    records = {r["file"].split("/")[-1]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {"astronaut photo.jpg", "coffee.png", "clip.mp4", "broken.jpg"}
    assert "not an image" in records["broken.jpg"]["error"]
    photo = records["astronaut photo.jpg"]
    assert photo["type"] == "image" and photo["n_faces"] == 1 and 0 <= photo["score"] <= 1
    assert records["coffee.png"]["label"] == "no face" and records["coffee.png"]["score"] is None
    video = records["clip.mp4"]
    assert video["type"] == "video" and video["frames_sampled"] == 6 and video["tracks"]
    photo_cams = sorted(Path(c).name for c in photo["cams"])
    assert [c.split("_", 1)[1] for c in photo_cams] == ["face1_fused.png", "face1_meso4.png", "face1_resnet18.png"]
    assert all(c.startswith("astronaut photo-") for c in photo_cams)
    video_cams = [Path(c) for c in video["cams"]]  # the most suspicious frame of each person
    assert video_cams and all(c.is_file() and "_person" in c.name for c in video_cams)
    assert {Path(c).name for c in photo["cams"] + video["cams"]} == {p.name for p in cams.iterdir()}
    assert "could not be analysed" in proc.stderr
    assert "1 failed" in proc.stderr and "1 no face" in proc.stderr  # the summary line


def test_cli_whole_image_and_stdout(inputs, tiny_checkpoint):
    proc = run_cli(inputs / "coffee.png", "--model", tiny_checkpoint, "--whole-image", "-q")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["whole_image"] is True and record["n_faces"] == 1


def test_cli_exit_code_2_for_a_missing_model(inputs, tmp_path):
    proc = run_cli(inputs / "coffee.png", "--model", tmp_path / "nowhere", "-q")
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_rejects_bad_frame_counts(inputs, tiny_checkpoint):
    proc = run_cli(inputs / "clip.mp4", "--model", tiny_checkpoint, "--frames", "0")
    assert proc.returncode == 2 and "--frames" in proc.stderr


def test_same_named_inputs_keep_separate_cams(tmp_path, astronaut, tiny_checkpoint):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        Image.fromarray(astronaut).save(tmp_path / sub / "face.jpg")
    out, cams = tmp_path / "out.jsonl", tmp_path / "cams"
    proc = run_cli(tmp_path / "a", tmp_path / "b", "--model", tiny_checkpoint, "--json", out, "--cams", cams, "-q")
    assert proc.returncode == 0, proc.stderr
    a, b = [json.loads(line)["cams"] for line in out.read_text().splitlines()]
    assert len(a) == len(b) == 3 and not set(a) & set(b)
    assert len(list(cams.iterdir())) == 6


def test_no_native_log_lines_unless_verbose(inputs, tiny_checkpoint):
    quiet = run_cli(inputs / "astronaut photo.jpg", "--model", tiny_checkpoint, "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.strip().splitlines() == ["1 file(s): 1 real"] or quiet.stderr.strip().splitlines() == [
        "1 file(s): 1 fake"]
    loud = run_cli(inputs / "astronaut photo.jpg", "--model", tiny_checkpoint, "-q", "--verbose")
    assert loud.returncode == 0 and len(loud.stderr.splitlines()) > 1  # MediaPipe's own lines


def test_help_does_not_load_torch():
    code = "import sys; from detector.cli import build_parser; build_parser(); import detector; print(sorted(" \
           "m for m in ('torch', 'cv2', 'mediapipe') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr
