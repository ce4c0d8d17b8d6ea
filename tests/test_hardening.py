"""Safe to host in public and to run on folders nobody chose: refused options, special files, the Model box, the
weights' hash, the architecture check, clean-up and the allocator bound."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import corpus
from app_server import ROOT, AppServer
from detector.errors import CheckpointError, DetectorError, InputError, OfflineError


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "detector", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut):
    path = tmp_path_factory.mktemp("photo") / "astronaut.jpg"
    Image.fromarray(astronaut).save(path)
    return path


# ----------------------------------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("option, value, words", [
    ("--max-faces", "0", "at least 1"), ("--max-faces", "-1", "at least 1"), ("--max-pixels", "0", "at least 1"),
    ("--max-duration", "0", "positive"), ("--max-duration", "-5", "positive"), ("--threshold", "1.5", "between"),
])
def test_cli_refuses_non_positive_limits(photo, option, value, words):
    proc = run_cli(photo, option, value)
    assert proc.returncode == 2 and option in proc.stderr and words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("device, words", [("bogus", "Unknown device"), ("cuda", "no usable CUDA GPU"),
                                           ("cuda:7", "no usable CUDA GPU")])
def test_cli_refuses_devices_it_does_not_have(photo, device, words):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = run_cli(photo, "--device", device, "--model", "/nowhere/at/all")  # checked before the model is loaded
    assert proc.returncode == 2 and "--device" in proc.stderr and words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_checks_output_paths_before_loading_the_model(photo, tmp_path):
    missing_model = "/nowhere/at/all"
    proc = run_cli(photo, "--json", "/nonexistent/dir/o.jsonl", "--model", missing_model)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "nowhere" not in proc.stderr, proc.stderr
    a_file = tmp_path / "taken.png"
    a_file.write_bytes(b"x")
    proc = run_cli(photo, "--cams", a_file, "--model", missing_model)
    assert proc.returncode == 2 and "not a folder" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = run_cli(photo, "--json", tmp_path, "--model", missing_model)
    assert proc.returncode == 2 and "is a folder" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    started = time.time()
    proc = run_cli(empty, "--model", missing_model)  # no inputs: said at once, not after a model load
    assert proc.returncode == 2 and "no image or video files" in proc.stderr
    assert time.time() - started < 30


def test_cli_names_the_file_in_every_error(tmp_path, tiny_checkpoint):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    Image.new("RGB", (1, 4000)).save(tmp_path / "line.png")
    out = tmp_path / "o.jsonl"
    proc = run_cli(tmp_path / "dot.png", tmp_path / "line.png", "/dev/zero", "--model", tiny_checkpoint, "--json",
                   out, "-q")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = {Path(r["file"]).name: r["error"] for r in map(json.loads, out.read_text().splitlines())}
    assert errors["dot.png"].startswith("dot.png:") and "1x1" in errors["dot.png"]
    assert errors["line.png"].startswith("line.png:") and "1x4000" in errors["line.png"]
    assert "device" in errors["zero"] and "not found" not in errors["zero"]


def test_cli_exit_2_for_a_model_that_cannot_load_and_1_for_a_bad_file(photo, tmp_path, tiny_checkpoint):
    assert run_cli(photo, "--model", tmp_path / "none").returncode == 2
    (tmp_path / "bad.jpg").write_text("text")
    assert run_cli(photo, tmp_path / "bad.jpg", "--model", tiny_checkpoint, "-q").returncode == 1


def test_special_files_are_refused_without_being_opened(tmp_path, tiny_checkpoint):
    from detector.api import Detector

    corpus.build_special(tmp_path)
    detector = Detector.from_pretrained(tiny_checkpoint)
    started = time.time()
    with pytest.raises(InputError, match="p.jpg: this is a named pipe"):
        detector.analyze_image(tmp_path / "p.jpg")
    with pytest.raises(InputError, match="p.jpg: this is a named pipe"):
        detector.analyze_video(tmp_path / "p.jpg")
    with pytest.raises(InputError, match="dev-zero.jpg: this is a device"):
        detector.analyze_image(tmp_path / "dev-zero.jpg")
    assert time.time() - started < 10


def test_arrays_obey_the_pixel_limit_like_files(tiny_checkpoint, astronaut, tmp_path):
    from detector.api import Detector

    detector = Detector.from_pretrained(tiny_checkpoint, max_pixels=100_000)
    Image.fromarray(astronaut).save(tmp_path / "a.png")
    for image in (tmp_path / "a.png", Image.fromarray(astronaut), astronaut):
        with pytest.raises(InputError, match="larger than the limit"):
            detector.analyze_image(image)
    assert detector.analyze_image(astronaut[::2, ::2]).width == 256  # 65,536 pixels: under the limit


# ----------------------------------------------------------------------------------- checkpoints from elsewhere
def _copy(folder: Path, into: Path) -> Path:
    target = into / folder.name
    shutil.copytree(folder, target)
    return target


def _without_hash(folder: Path) -> Path:
    config = json.loads((folder / "config.json").read_text())
    del config["weights_sha256"]
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_checkpoint_without_a_hash_needs_an_explicit_opt_out(tiny_checkpoint, tmp_path, monkeypatch, photo):
    from detector.model import FusionDetector

    folder = _without_hash(_copy(tiny_checkpoint, tmp_path))
    with pytest.raises(CheckpointError, match="records no weights_sha256"):
        FusionDetector.from_pretrained(folder)
    assert FusionDetector.from_pretrained(folder, require_hash=False).name == "resnet18+meso4"
    monkeypatch.setenv("DEEPFAKE_ALLOW_UNHASHED", "1")
    assert FusionDetector.from_pretrained(folder).name == "resnet18+meso4"
    monkeypatch.delenv("DEEPFAKE_ALLOW_UNHASHED")
    refused = run_cli(photo, "--model", folder, "-q")
    assert refused.returncode == 2 and "weights_sha256" in refused.stderr and "Traceback" not in refused.stderr
    assert run_cli(photo, "--model", folder, "--allow-unhashed", "-q").returncode == 0


def test_the_bundled_models_folder_is_trusted_without_a_hash(tiny_checkpoint, monkeypatch, tmp_path):
    from detector import model as model_module

    folder = _without_hash(_copy(tiny_checkpoint, tmp_path))
    monkeypatch.setattr(model_module, "BUNDLED_MODELS", tmp_path)
    assert model_module.FusionDetector.from_pretrained(folder).name == "resnet18+meso4"


def test_an_unregistered_architecture_is_refused_before_anything_is_built(tiny_checkpoint, tmp_path, monkeypatch):
    from detector import model as model_module

    folder = _copy(tiny_checkpoint, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["backbones"] = ["vit_giant_patch14_224", "meso4"]  # a real timm name, gigabytes when built
    (folder / "config.json").write_text(json.dumps(config))

    def built(*args, **kwargs):
        raise AssertionError("a backbone was built before the config was checked")

    monkeypatch.setattr(model_module, "build_backbone", built)
    with pytest.raises(CheckpointError, match="not in the backbone registry"):
        model_module.FusionDetector.from_pretrained(folder)


# ---------------------------------------------------------------------------------------------- the Model box
@pytest.fixture()
def store_env(tiny_checkpoint, tmp_path, monkeypatch):
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(tiny_checkpoint, root / "mine")
    monkeypatch.setenv("DEEPFAKE_DEFAULT_MODEL", str(tiny_checkpoint))
    return root


def test_model_box_refuses_outside_paths_with_one_message(store_env, tmp_path):
    import app

    store = app.ModelStore(models_root=store_env)
    outside = tmp_path / "outside"
    shutil.copytree(store_env / "mine", outside)  # a real checkpoint, but outside the root
    messages = []
    for text in ("/etc/shadow", "/etc/no-such-file-here", str(outside), str(tmp_path / "no-such-folder"), "/etc",
                 str(store_env / ".." / "outside"), "mine/../../outside"):
        with pytest.raises(CheckpointError) as info:
            store.get(text)
        messages.append(str(info.value).replace(repr(text), "TEXT"))
    assert len(set(messages)) == 1, messages
    assert "is a file" not in messages[0] and "not found" not in messages[0]


def test_model_box_caches_by_checkpoint_in_a_small_lru(store_env, tiny_checkpoint, tmp_path):
    import app

    shutil.copytree(store_env / "mine", store_env / "other")
    store = app.ModelStore(size=2, models_root=store_env)
    first = store.get("mine")
    for spelling in (str(store_env / "mine"), "mine/", "./mine", f" {store_env}/mine/. "):
        assert store.get(spelling) is first, spelling
    assert store.get(app.BUNDLED) is not first
    store.get("other")  # a third model: the least recently used one goes
    assert len(store._models) == 2 and store.get("mine") is not first


def test_model_box_sends_repo_ids_to_the_hub_only(store_env, monkeypatch):
    import app

    asked = []

    def offline(repo: str) -> Path:
        asked.append(repo)
        raise OfflineError("not in the local Hub cache")

    monkeypatch.setattr(app, "resolve_hub", offline)
    store = app.ModelStore(models_root=store_env)
    with pytest.raises(DetectorError, match="Cannot load model 'etc/passwd'"):
        store.get("etc/passwd")  # never read as a local path, relative or not
    assert asked == ["etc/passwd"]


# ------------------------------------------------------------------------------------------ the app's process
def test_the_app_leaves_nothing_behind(tiny_checkpoint, tmp_path, photo):
    from gradio_client import Client, handle_file

    stub = ROOT / "app.pyi"
    stub.unlink(missing_ok=True)
    outputs = tmp_path / "outputs"
    server = AppServer(tiny_checkpoint, tmp_path / "app.log", {"DEEPFAKE_OUTPUT_DIR": str(outputs)}).wait()
    try:
        client = Client(server.url, verbose=False)
        assert client.predict(handle_file(str(photo)), False, "bundled default", 0.5, 0.5, 1.15,
                              api_name="/analyze_image")[-1]["n_faces"] == 1
        assert any(outputs.iterdir())  # the annotated picture was written there
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)
    finally:
        server.stop()
    assert not outputs.exists()
    assert not stub.exists()
    log = (tmp_path / "app.log").read_text()
    assert "malloc arenas capped at 2" in log and "Traceback" not in log


def test_bound_allocator_caps_the_arenas():
    import app

    if not os.confstr("CS_GNU_LIBC_VERSION"):
        pytest.skip("not glibc")
    assert app.bound_allocator(2) is True


def test_corpus_bad_arrays_are_refused_too(tiny_checkpoint):
    from detector.api import Detector

    detector = Detector.from_pretrained(tiny_checkpoint)
    with pytest.raises(InputError, match="only 1x4000"):
        detector.analyze_image(np.zeros((4000, 1, 3), np.uint8))
