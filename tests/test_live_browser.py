"""The Live tab in a real browser with a fake camera: headless Chromium plays a clip made at test time (a .y4m of the
public-domain astronaut portrait moving) as its webcam. Within a bounded time the tab shows the boxed frame and a
verdict, and the verdict for this real face never flips between labels once it has settled."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app_server import ROOT, AppServer
from test_browser import ARTIFACTS, CHROMIUM, FLAGS, PHONE, too_wide

pytestmark = pytest.mark.browser
BUNDLED = ROOT / "assets" / "models" / "default"


def write_y4m(path: Path, astronaut: np.ndarray, frames: int = 60, size: tuple[int, int] = (640, 480)) -> Path:
    """A raw YUV 4:2:0 clip (Chromium's fake-camera format): the portrait drifting slowly over a grey background."""
    w, h = size
    head = cv2.resize(astronaut[0:330, 90:420], (300, 300), interpolation=cv2.INTER_AREA)
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            frame = np.full((h, w, 3), 100, np.uint8)
            x = 120 + int(40 * np.sin(i / 10))
            frame[90:390, x:x + 300] = head
            fh.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    srv = AppServer(BUNDLED, tmp_path_factory.mktemp("live") / "app.log").wait()
    yield srv
    srv.stop()


def test_live_tab_boxes_faces_and_settles_on_one_verdict(server, astronaut, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    clip = write_y4m(tmp_path / "camera.y4m", astronaut)
    profile = tempfile.mkdtemp(prefix="chromium-live-")
    args = FLAGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={clip}"]
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                            args=args, viewport=PHONE)
            page = context.new_page()
            page.goto(server.url, wait_until="load", timeout=120_000)
            page.get_by_role("tab", name="Live").click()
            camera = page.locator("#live-camera")
            camera.wait_for(timeout=30_000)
            camera.locator('[title="grant webcam access"] button').click(timeout=30_000)  # Gradio's own step
            # Record only once the camera's picture is playing: clicked earlier, the stream can fail to start
            page.wait_for_function("() => { const v = document.querySelector('#live-camera video');"
                                   " return v !== null && v.readyState >= 2 && !v.paused; }", timeout=30_000)
            camera.locator("button.capture-button").click(timeout=30_000)  # "Record": the stream starts
            verdict = page.locator("#live-verdict .live-person").first
            verdict.wait_for(timeout=60_000)  # the first scored frame with a face
            expect(page.locator("#live-frame img")).to_have_count(1, timeout=30_000)
            labels, deadline = [], time.time() + 40
            while time.time() < deadline and len([x for x in labels if x != "uncertain"]) < 12:
                labels.append(page.locator("#live-verdict .live-person").first.get_attribute("data-label"))
                page.wait_for_timeout(500)
            settled = [x for x in labels if x != "uncertain"]
            assert settled, f"no verdict settled within the time: {labels}"
            first = labels.index(settled[0])
            assert all(x == settled[0] for x in labels[first:]), labels  # no flip once settled
            assert settled[0] == "real", labels
            speed = page.locator("#live-verdict .live-speed").inner_text()
            assert "frames/s" in speed and "ms per frame" in speed
            assert page.locator("#live-camera-note").is_hidden()  # the (fake) camera was found and allowed
            assert too_wide(page) == []
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "app-live-390.png"), full_page=True)
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_live_tab_says_when_there_is_no_camera(server):
    from playwright.sync_api import expect, sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-nocam-")
    try:
        with sync_playwright() as pw:  # no fake device: headless Chromium then has no camera at all
            context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                            args=FLAGS + ["--use-fake-ui-for-media-stream"],
                                                            viewport=PHONE)
            page = context.new_page()
            page.goto(server.url, wait_until="load", timeout=120_000)
            page.get_by_role("tab", name="Live").click()
            note = page.locator("#live-camera-note")
            expect(note).to_be_visible(timeout=30_000)
            assert "camera" in note.inner_text().lower() and "Photo or Video tab" in note.inner_text() or \
                "reload" in note.inner_text()
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
