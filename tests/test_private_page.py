"""Private mode: the whole detector in the browser. The real app serves the page built for the bundled model at
/private/; headless Debian Chromium (Playwright) opens it and analyses files through its file input, like a person.

- Parity: on 50 fixed images (tests/parity_images.py) the page finds the faces Python finds (IoU >= 0.9) and scores
  them within 0.01 of ``Detector.analyze_image``, with the same verdicts.
- Nothing leaves the device: every request the browser makes while the page loads and analyses a photo and a video
  is a GET of the app's own origin.
- A video gets one verdict per person, as Python's; the page works at a phone's width.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from app_server import ROOT, AppServer, chromium_context, need
from test_browser import CHROMIUM, FLAGS

BUNDLED = ROOT / "assets" / "models" / "default"
EXAMPLES = ROOT / "assets" / "examples"
RUN_MS = 180_000

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need("chromium", CHROMIUM is None, ".ci/run installs it with apt-get")
    need("node_modules", not (ROOT / "node_modules" / "onnxruntime-web").is_dir(),
          "the README's set-up command runs npm ci")
    srv = AppServer(BUNDLED, tmp_path_factory.mktemp("app") / "app.log").wait()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def context(server):
    with chromium_context(CHROMIUM, FLAGS) as ctx:
        yield ctx


class Page:
    """The private page in a tab, with every request the browser made recorded."""

    def __init__(self, context, server, viewport=None) -> None:
        self.requests: list[tuple[str, str]] = []
        self.page = context.new_page()
        if viewport:
            self.page.set_viewport_size(viewport)
        self.page.on("request", lambda r: self.requests.append((r.method, r.url)))
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(server.url + "private/", wait_until="load", timeout=RUN_MS)
        self.info = self.page.evaluate("window.privatePage.ready")
        self.runs = 0

    def analyse(self, path: Path, whole: bool = False) -> dict:
        if self.page.is_checked("#whole") != whole:
            self.page.set_checked("#whole", whole)  # (re-runs the last file; waited for below)
            if self.runs:
                self.runs += 1
                self.page.wait_for_selector(f'#result[data-runs="{self.runs}"]', timeout=RUN_MS)
        self.page.set_input_files("#file", str(path))
        self.runs += 1
        self.page.wait_for_selector(f'#result[data-runs="{self.runs}"]', timeout=RUN_MS)
        return self.page.evaluate("window.privatePage.last")


@pytest.fixture(scope="module")
def private(context, server):
    page = Page(context, server)
    yield page
    page.page.close()


@pytest.fixture(scope="module")
def detector():
    from detector.api import Detector

    return Detector.from_pretrained(BUNDLED)


def _pairs(py_boxes: list, js_boxes: list) -> list[tuple[int, int, float]]:
    from detector.faces import box_iou

    pairs, used = [], set()
    for i, a in enumerate(py_boxes):
        best = max(((box_iou(a, b), j) for j, b in enumerate(js_boxes) if j not in used), default=(0.0, -1))
        if best[1] >= 0:
            used.add(best[1])
            pairs.append((i, best[1], best[0]))
    return pairs


def test_page_matches_python_on_50_fixed_images(private, detector, tmp_path):
    from parity_images import make

    images = make(tmp_path / "parity")
    assert len(images) == 50
    assert private.info["isolated"] and private.info["threads"] >= 2, private.info  # threads: cross-origin isolated
    report, faces_total, worst_score, worst_iou = [], 0, 0.0, 1.0
    for path in images:
        py = detector.analyze_image(path)
        js = private.analyse(path)
        assert "error" not in js, (path.name, js)
        assert len(js["faces"]) == len(py.faces), (path.name, [f.box for f in py.faces], js["faces"])
        pairs = _pairs([f.box for f in py.faces], [f["box"] for f in js["faces"]])
        for i, j, iou in pairs:
            assert js["faces"][j]["at_edge"] == py.faces[i].at_edge, (path.name, py.faces[i].box)
            diff = abs(py.faces[i].score - js["faces"][j]["score"])
            worst_score, worst_iou = max(worst_score, diff), min(worst_iou, iou)
            report.append((path.name, i, round(iou, 3), round(diff, 4)))
            assert iou >= 0.9, (path.name, py.faces[i].box, js["faces"][j]["box"])
            assert diff <= 0.01, (path.name, py.faces[i].score, js["faces"][j]["score"])
        faces_total += len(pairs)
        if py.score is not None and min(abs(py.score - v) for v in (py.threshold, *(py.uncertain_band or []))) > 0.01:
            assert js["label"] == py.label, (path.name, py.score, js["score"])
        assert (js["score"] is None) == (py.score is None)
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "private-parity.json").write_text(json.dumps(
        {"faces": faces_total, "max_score_diff": worst_score, "min_iou": worst_iou, "faces_detail": report}, indent=1))
    assert faces_total >= 80, faces_total  # group photos make most of the faces (86 when written)
    assert not private.errors, private.errors


def test_nothing_leaves_the_device(context, server, detector):
    page = Page(context, server)
    try:
        photo = page.analyse(EXAMPLES / "astronaut.jpg")
        assert photo["label"] == detector.analyze_image(EXAMPLES / "astronaut.jpg").label == "real"
        clip = page.analyse(EXAMPLES / "clip.webm")
        assert clip["kind"] == "video" and clip["persons"], clip
        page.page.wait_for_timeout(1500)  # anything sent after the verdict is recorded too
        origin = urlparse(server.url).netloc
        assert page.requests, "no request was recorded"
        for method, url in page.requests:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob"):
                continue
            assert parsed.netloc == origin and method == "GET", (method, url)
        assert any(u.endswith("/private/model.onnx") for _, u in page.requests)
        # the MediaPipe bundle's usage logger is the one thing that tries: refused inside the page, never sent
        refused = page.page.evaluate("window.privatePage.refused")
        assert all("googleapis" in r or "POST" in r for r in refused), refused
    finally:
        page.page.close()


def test_served_page_sends_its_headers_and_refuses_post(server, private):
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(server.url + "private/", timeout=30) as r:
        assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "connect-src 'self'" in r.headers["Content-Security-Policy"]
        body = r.read()
        assert b'src="private.js"' in body and b'http-equiv="Content-Security-Policy"' in body  # on any host too
    request = urllib.request.Request(server.url + "private/index.html", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 405
    with urllib.request.urlopen(server.url + "private/config.json", timeout=30) as r:
        config = json.loads(r.read())
    assert config["preprocessing"]["members"][0]["mean"] == [0.5, 0.5, 0.5]  # the spec the page reads


def test_video_gets_a_verdict_per_person_like_python(private, detector):
    clip = private.analyse(EXAMPLES / "clip.webm")
    py = detector.analyze_video(EXAMPLES / "clip.webm")
    assert len(clip["persons"]) == len(py.tracks) == 1
    assert clip["label"] == py.label
    assert abs(clip["score"] - py.score) < 0.05, (clip["score"], py.score)  # frames sampled by time, not index
    assert private.page.locator("#verdict .badge.big").inner_text().startswith(
        {"real": "Likely real", "fake": "Likely fake", "uncertain": "Uncertain"}[py.label])
    assert private.page.locator(".card.person").count() == 1


def test_whole_image_and_errors(private, detector, tmp_path):
    crop = EXAMPLES / "astronaut.jpg"
    whole = private.analyse(crop, whole=True)
    py = detector.analyze_image(crop, whole_image=True)
    assert whole["whole"] and abs(whole["score"] - py.score) <= 0.01
    private.page.set_checked("#whole", False)
    private.runs += 1
    private.page.wait_for_selector(f'#result[data-runs="{private.runs}"]', timeout=RUN_MS)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = private.analyse(bad)
    assert "broken.jpg" in result["error"]
    assert private.page.locator("#error").is_visible()
    fake_video = tmp_path / "clip.mp4"
    fake_video.write_bytes(b"this is text, not a video" * 40)
    result = private.analyse(fake_video)
    assert "clip.mp4" in result["error"] and "video" in result["error"]
    again = private.analyse(EXAMPLES / "astronaut.jpg")  # the page keeps working
    assert again["label"] == "real" and not private.page.locator("#error").is_visible()


def test_a_face_cut_by_the_edge_does_not_decide_on_the_page_either(private, detector, tmp_path, astronaut):
    """The page applies the library's rule: the face cut by the photo's edge is shown with a note, the whole face
    decides the photo's score."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "cut-then-whole.png"
    Image.fromarray(np.concatenate([astronaut[:, 190:], astronaut], axis=1)).save(path)
    py = detector.analyze_image(path)
    js = private.analyse(path)
    assert [f["at_edge"] for f in js["faces"]] == [f.at_edge for f in py.faces] == [True, False]
    assert js["top_face"] == py.top_face == 1 and abs(js["score"] - py.score) <= 0.01
    assert js["faces"][0]["score"] > js["score"]  # the cut face would have decided under "most suspicious face"
    assert private.page.locator(".card.face-card .edge-note").count() == 1
    assert "Face 1 is cut by the photo" in private.page.locator("#verdict").inner_text()


def test_phone_width(context, server):
    page = Page(context, server, viewport={"width": 390, "height": 844})
    try:
        result = page.analyse(EXAMPLES / "astronaut-airbrushed.png")
        assert result["label"] in ("fake", "uncertain", "real")
        wide = page.page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 1; })
            .map(e => e.tagName + '#' + e.id).slice(0, 5)""")
        assert not wide, wide
        assert page.page.locator("#verdict").is_visible() and page.page.locator(".face-card").count() == 1
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        page.page.screenshot(path=str(ROOT / "test-artifacts" / "private-390.png"), full_page=True)
    finally:
        page.page.close()


def test_app_links_to_private_mode(context, server):
    page = context.new_page()
    try:
        page.goto(server.url, wait_until="load", timeout=RUN_MS)
        link = page.locator("#private-link a")
        link.wait_for(timeout=RUN_MS)
        assert link.get_attribute("href") == "private/"
    finally:
        page.close()


def test_missing_packages_give_a_clear_message(tmp_path, monkeypatch):
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    import app
    from detector.private_page import CachedPage, PageError, build

    with pytest.raises(PageError, match="npm ci"):
        build(tmp_path / "out", BUNDLED, modules=tmp_path / "nothing")
    assert not (tmp_path / "out").exists()  # checked before anything is written
    monkeypatch.setenv("DEEPFAKE_NODE_MODULES", str(tmp_path / "nothing"))
    site = Starlette(routes=[Mount("/private", app=app.PrivatePage(CachedPage(BUNDLED, root=tmp_path / "c")))])
    response = TestClient(site).get("/private/")
    assert response.status_code == 503 and "npm ci" in response.text
    off = Starlette(routes=[Mount("/private", app=app.PrivatePage(enabled=False))])
    assert TestClient(off).get("/private/").status_code == 404


def test_cached_page_rebuilds_for_new_weights_and_drops_the_old(tiny_checkpoint, tmp_path):
    from detector.private_page import CachedPage

    if not (ROOT / "node_modules" / "onnxruntime-web").is_dir():
        pytest.skip("node_modules is missing (npm ci)")
    model = tmp_path / "model"
    shutil.copytree(tiny_checkpoint, model)
    first = CachedPage(model, root=tmp_path / "cache").folder()
    assert (first / "index.html").is_file() and (first / "model.onnx").is_file()
    assert CachedPage(model, root=tmp_path / "cache").folder() == first  # the same fingerprint: built once
    os.utime(model / "model.safetensors", (1, 1))  # the weights' file changed
    second = CachedPage(model, root=tmp_path / "cache").folder()
    assert second != first and not first.exists() and (second / "config.json").is_file()
