"""The bad-input corpus through the facade, the CLI and the live app: a result or a clear message, never a crash."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import corpus
from app_server import ROOT as ROOT_DIR
from app_server import AppServer
from detector.api import Detector
from detector.errors import InputError


@pytest.fixture(scope="module")
def files(tmp_path_factory, astronaut):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, corpus.build(folder, astronaut)


@pytest.fixture(scope="module")
def detector(tiny_checkpoint):
    return Detector.from_pretrained(tiny_checkpoint, max_duration_s=600)


def test_corpus_is_large_enough(files):
    assert len(files[1]) >= 25


def test_facade(files, detector):
    folder, entries = files
    for name, kind, expect in entries:
        path = folder / name
        started = time.time()
        try:
            if kind == "image":
                result = detector.analyze_image(path)
            else:
                result = detector.analyze_video(path, frames=8)
        except InputError as exc:
            assert expect != corpus.OK, f"{name}: unexpected error {exc}"
            assert re.search(expect, str(exc)), f"{name}: message {exc!r} does not match {expect!r}"
            assert name in str(exc) or "pixels" in str(exc), f"{name}: the message does not name the file"
        else:
            assert expect == corpus.OK, f"{name}: expected an error matching {expect!r}, got a result"
            data = result.to_dict()
            json.dumps(data)
            if name == "no-face.png":
                assert data["n_faces"] == 0 and data["label"] == "no face"
            elif name == "forty-nine-faces.jpg":
                assert data["n_faces"] >= 40
            elif name == "long.mp4":
                assert "first 600 s" in data["message"] and data["frames_sampled"] == 8
            elif kind == "image":
                assert data["n_faces"] == 1, name
        assert time.time() - started < 60, f"{name} took too long"


def test_cli(files, tiny_checkpoint, tmp_path):
    """One mixed batch over the whole corpus, special files named directly, heatmaps on: every file gets a result or
    a clear error, the good files are scored (a named pipe among them once hung the run), no traceback."""
    folder, entries = files
    special = corpus.build_special(tmp_path / "special")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "detector", str(folder),
                           *[str(tmp_path / "special" / name) for name, _, _ in special],
                           "--model", str(tiny_checkpoint), "--json", str(out), "--cams", str(tmp_path / "cams"),
                           "--frames", "4", "--max-duration", "600", "-q"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1  # some files are bad
    assert "Traceback" not in proc.stderr and "Traceback" not in out.read_text()
    records = {json.loads(line)["file"].split("/")[-1]: json.loads(line) for line in out.read_text().splitlines()}
    assert len(records) == len(entries) + len(special)
    for name, _, expect in special:
        assert re.search(expect, records[name]["error"]) and name in records[name]["error"], records[name]
    latin1 = next(r for n, r in records.items() if n.startswith("caf") and "latin1" in n)
    assert latin1["n_faces"] == 1 and latin1["cams"] and all(Path(c).is_file() for c in latin1["cams"])
    entries = entries + special
    for name, kind, expect in entries:
        record = records[name]
        if expect == corpus.OK:
            assert "error" not in record, f"{name}: {record.get('error')}"
        else:
            # the CLI sniffs content, so renamed files are analysed as what they really are
            if name in ("image-named.mp4", "video-named.jpg"):
                assert "error" not in record and record["type"] == ("image" if name.endswith(".mp4") else "video")
            else:
                assert re.search(expect, record["error"]), f"{name}: {record['error']!r}"


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    srv = AppServer(tiny_checkpoint, tmp_path_factory.mktemp("app") / "app.log").wait()
    yield srv
    srv.stop()


def test_live_app(files, server):
    from gradio_client import Client, handle_file

    folder, entries = files
    client = Client(server.url, verbose=False)
    good = folder / "name with spaces.jpg"
    for name, kind, expect in entries:
        path = folder / name
        if not name.isprintable() or "\udce9" in name:
            continue  # a name that is not UTF-8 cannot travel in an upload; the CLI test covers it
        if kind == "image":
            out = client.predict(handle_file(str(path)), False, "bundled default", 0.5, 0.5, 1.15,
                                 api_name="/analyze_image")
        else:
            out = client.predict(handle_file(str(path)), "bundled default", 0.5, 4, 0.5, 1.15, "mean",
                                 api_name="/analyze_video")
        data = out[-1]  # the app answers a bad file with a result carrying the message it shows beside the input
        assert isinstance(data, dict)
        if expect == corpus.OK:
            assert "error" not in data, f"{name}: unexpected error {data.get('error')}"
        else:
            assert re.search(expect, data.get("error", "")), f"{name}: {data.get('error')!r} does not match {expect!r}"
        with urllib.request.urlopen(server.url, timeout=10) as r:
            assert r.status == 200  # still serving
    assert server.proc.poll() is None
    assert client.predict(handle_file(str(good)), False, "bundled default", 0.5, 0.5, 1.15,
                          api_name="/analyze_image")[-1]["n_faces"] == 1
    assert "Traceback" not in server.log_path.read_text()


def test_app_serves_no_arbitrary_server_files(server):
    import urllib.error

    for target in ("/etc/passwd", str(ROOT_DIR / "app.py"), "../../../etc/passwd", str(ROOT_DIR / "README.md")):
        url = f"{server.url}gradio_api/file={target}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, b""
        assert status in (403, 404), (target, status)
        assert b"root:" not in body


def test_model_box_refuses_paths_and_urls(server):
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    photo = ROOT_DIR / "assets" / "examples" / "astronaut.jpg"
    for bad in ("/etc", "https://example.com/model", "a/b/c"):
        *_, data = client.predict(handle_file(str(photo)), False, bad, 0.5, 0.5, 1.15, api_name="/analyze_image")
        assert data["error"].startswith("Cannot load model"), data
