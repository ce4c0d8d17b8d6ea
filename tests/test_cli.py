import json
import subprocess
import sys

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
    pngs = sorted(p.name for p in cams.iterdir())
    assert pngs == ["astronaut photo_face0_fused.png", "astronaut photo_face0_meso4.png",
                    "astronaut photo_face0_resnet18.png"]
    assert "could not be analysed" in proc.stderr


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
