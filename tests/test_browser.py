"""A real browser (headless Debian Chromium driven by Playwright) uses the real app like a person would, at a
desktop's 1366x900 and a phone's 390x844. Screenshots land in test-artifacts/ (not committed)."""

from __future__ import annotations

import shutil

import pytest

from app_server import ROOT, AppServer, chromium_context, need

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLES = ROOT / "assets" / "examples"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
RUN_S = 120_000

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    need("chromium", CHROMIUM is None, ".ci/run installs it with apt-get")
    srv = AppServer(tiny_checkpoint, tmp_path_factory.mktemp("app") / "app.log").wait()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(server):
    with chromium_context(CHROMIUM, FLAGS, viewport=DESKTOP) as context:
        yield context


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1366", "390"])
def page(request, browser, server):
    page = browser.new_page()
    page.set_viewport_size(request.param)
    # not "networkidle": the page keeps a connection open for its streaming (Live) events
    page.goto(server.url, wait_until="load", timeout=RUN_S)
    page.get_by_role("button", name="Analyse photo").wait_for(timeout=RUN_S)
    ARTIFACTS.mkdir(exist_ok=True)
    yield page
    page.close()


def shot(page, name: str) -> None:
    path = ARTIFACTS / f"{name}-{page.viewport_size['width']}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000


def in_first_screen(page, selector: str) -> bool:
    """The element is wholly inside the viewport as it is now (no scrolling by the person)."""
    return page.evaluate("""s => { const r = document.querySelector(s).getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }""", selector)


def too_wide(page) -> list[str]:
    """Visible elements that reach past the right edge of the viewport (horizontal overflow)."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => {
        const r = e.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 1; })
        .map(e => e.tagName + '.' + e.className).slice(0, 5)""")


def upload_photo(page, path) -> None:
    page.locator("#image-verdict").locator("..").locator("input[type=file]").first.set_input_files(str(path))
    page.get_by_text("press Analyse").first.wait_for(timeout=30_000)


def test_verdict_first_one_card_per_face_and_no_overflow(page):
    from playwright.sync_api import expect

    upload_photo(page, EXAMPLES / "group.jpg")
    button = page.get_by_role("button", name="Analyse photo")
    button.click()
    badge = page.locator("#image-verdict .badge")
    badge.wait_for(timeout=RUN_S)
    assert in_first_screen(page, "#image-verdict .badge")
    assert badge.inner_text().split("·")[0].strip() in ("Likely real", "Uncertain", "Likely fake")
    assert badge.inner_text().strip().endswith("%")
    assert page.locator("#image-verdict .scope").inner_text().startswith("Scope:")
    cards = page.locator("#image-cards .face-card")
    expect(cards).to_have_count(5)
    assert cards.nth(0).locator("img").count() == 4  # the crop, two networks, the fused map
    assert page.locator("#image-cards .legend").is_visible()
    expect(button).to_be_enabled(timeout=30_000)
    assert too_wide(page) == []
    shot(page, "app-photo")
    # a second upload clears the first result
    upload_photo(page, EXAMPLES / "astronaut.jpg")
    assert page.locator("#image-verdict .badge").count() == 0 and cards.count() == 0
    button.click()
    badge.wait_for(timeout=RUN_S)
    expect(cards).to_have_count(1)


def test_errors_stay_beside_the_input_and_offer_a_way_out(page, tmp_path):
    from PIL import Image
    from playwright.sync_api import expect
    from skimage import data as skdata

    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    upload_photo(page, bad)
    page.get_by_role("button", name="Analyse photo").click()
    error = page.locator("#image-error")
    expect(error).to_contain_text("not an image file", timeout=RUN_S)
    page.wait_for_timeout(3_000)
    expect(error).to_be_visible()  # still there: not a toast that vanishes
    assert too_wide(page) == []
    shot(page, "app-bad-upload")

    coffee = tmp_path / "coffee.png"
    Image.fromarray(skdata.coffee()).save(coffee)
    upload_photo(page, coffee)
    expect(error).to_be_hidden()
    page.get_by_role("button", name="Analyse photo").click()
    expect(error).to_contain_text("No face", timeout=RUN_S)
    page.get_by_role("button", name="Analyse the whole image as one face").click()
    expect(page.locator("#image-cards .face-card")).to_have_count(1, timeout=RUN_S)
    expect(error).to_be_hidden()

    # a video disguised as a photo gets past the browser; the server says what it is and the other tab is one click
    disguised = tmp_path / "clip.jpg"
    disguised.write_bytes((EXAMPLES / "clip.webm").read_bytes())
    upload_photo(page, disguised)
    page.get_by_role("button", name="Analyse photo").click()
    expect(error).to_contain_text("this is a video", timeout=RUN_S)
    expect(error).to_contain_text("Video tab")
    page.get_by_role("button", name="Have a video? Open the Video tab").click()
    expect(page.get_by_role("button", name="Analyse video")).to_be_visible(timeout=30_000)


def test_video_one_row_per_person_and_a_headline_naming_them(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Video").click()
    page.locator("#video-verdict").locator("..").locator("input[type=file]").first.set_input_files(
        str(EXAMPLES / "clip.webm"))
    page.get_by_role("button", name="Analyse video").click()
    page.locator("#video-verdict .badge").wait_for(timeout=RUN_S)
    assert in_first_screen(page, "#video-verdict .badge")
    assert "Person 1 is the most suspicious" in page.locator("#video-verdict").inner_text()
    rows = page.locator("#video-cards .person")
    expect(rows).to_have_count(1)
    assert rows.first.locator("img.thumb").count() == 1
    assert "person 1" in rows.first.locator("figcaption").first.inner_text()
    assert too_wide(page) == []
    shot(page, "app-video")


def test_an_example_runs_when_clicked_and_the_model_tab_reads_at_any_width(page):
    page.get_by_text("Real photo (the model: real)").first.click()
    page.locator("#image-verdict .badge").wait_for(timeout=RUN_S)
    page.wait_for_timeout(1_000)
    assert in_first_screen(page, "#image-verdict .badge")  # a clicked example scrolls its verdict into view too
    assert page.locator("#image-cards .face-card").count() == 1
    page.get_by_role("tab", name="Model").click()  # visible at 390 px, not hidden behind the overflow menu
    page.wait_for_function("() => document.querySelector('#model-card').innerText.trim().length > 20",
                           timeout=60_000)
    assert too_wide(page) == []
    shot(page, "app-model")
