"""A real browser (headless Debian Chromium driven by Playwright) uses the real app like a person would."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from app_server import ROOT, AppServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser_page(tiny_checkpoint, tmp_path_factory):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server = AppServer(tiny_checkpoint, tmp_path_factory.mktemp("app") / "app.log").wait()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                        args=FLAGS, viewport={"width": 1280, "height": 1600})
        page = context.new_page()
        page.goto(server.url, wait_until="networkidle", timeout=120_000)
        try:
            yield page
        finally:
            context.close()
            server.stop()
            shutil.rmtree(profile, ignore_errors=True)


def test_upload_photo_and_see_score_and_heatmaps(browser_page):
    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("input[type=file]").first.set_input_files(str(ROOT / "assets" / "examples" / "astronaut.jpg"))
    page.get_by_role("button", name="Analyse photo").click()
    summary = page.locator("#image-summary")
    summary.get_by_text("P(fake)").first.wait_for(timeout=120_000)
    text = summary.inner_text()
    assert "most suspicious face P(fake) = " in text and "1 face(s)" in text
    gallery_images = page.locator("#image-gallery img")
    gallery_images.first.wait_for(timeout=60_000)
    assert gallery_images.count() >= 4  # the crop + one heatmap per backbone + the fused map
    assert page.locator("#faces-image img").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "app-photo.png"), full_page=True)
    assert Path(ARTIFACTS / "app-photo.png").stat().st_size > 10_000


def test_bad_upload_shows_a_clear_error_in_the_page(browser_page, tmp_path):
    page = browser_page
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    page.locator("input[type=file]").first.set_input_files(str(bad))
    page.get_by_role("button", name="Analyse photo").click()
    page.get_by_text("not an image file").first.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "app-bad-upload.png"))


def test_a_new_upload_clears_the_previous_result(browser_page):
    page = browser_page
    page.locator("input[type=file]").first.set_input_files(str(ROOT / "assets" / "examples" / "astronaut.jpg"))
    page.get_by_role("button", name="Analyse photo").click()
    summary = page.locator("#image-summary")
    summary.get_by_text("P(fake)").first.wait_for(timeout=120_000)
    page.locator("input[type=file]").first.set_input_files(str(ROOT / "assets" / "examples" / "group.jpg"))
    summary.get_by_text("press Analyse").first.wait_for(timeout=30_000)
    assert "P(fake)" not in summary.inner_text()
    assert page.locator("#image-gallery img").count() == 0
    page.get_by_role("button", name="Analyse photo").click()
    summary.get_by_text("5 face(s)").first.wait_for(timeout=120_000)
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Analyse photo")).to_be_enabled(timeout=30_000)  # again, after the run
