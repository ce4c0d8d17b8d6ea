"""Speed of the private page (the detector in the browser), in headless Chromium on this machine.

    python benchmarks/private_page.py [--out assets/results/private-page-cpu.json] [--no-isolation]

Builds the page for the bundled model (``python -m detector web``), serves it on 127.0.0.1 with the headers the app
sends (cross-origin isolation: ONNX Runtime may use threads; ``--no-isolation`` leaves them out, one thread), and
measures with a fresh browser profile:

- the bytes the page downloads on first open (cold cache), and the time until it is ready;
- the time to the first verdict after the page opens with a warm cache (reopened in the same profile, a photo chosen
  as soon as the file input is enabled);
- faces/s: the model alone (64 face crops scored in batches) and end to end on a group photo with 20 faces
  (decode, find, crop, score, draw), each the median of 3 runs.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def serve(folder: Path, isolate: bool) -> tuple[http.server.ThreadingHTTPServer, str]:
    from detector.private_page import HEADERS

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map: ClassVar[dict[str, str]] = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                                                    ".mjs": "text/javascript", ".wasm": "application/wasm"}

        def end_headers(self) -> None:
            for key, value in HEADERS.items():
                if isolate or not key.startswith("Cross-Origin"):
                    self.send_header(key, value)
            self.send_header("Cache-Control", "max-age=3600")
            super().end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "assets" / "results" / "private-page-cpu.json")
    p.add_argument("--no-isolation", action="store_true", help="serve without COOP/COEP (one thread)")
    p.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from bench import machine

    from detector.private_page import build
    from parity_images import _grid

    work = Path(tempfile.mkdtemp(prefix="private-bench-"))
    folder = build(work / "site")
    from PIL import Image
    from skimage import data

    group = work / "group-20.jpg"
    _grid(Image.fromarray(data.astronaut()), 4, 5, 180, 8).save(group, quality=92)
    photo = ROOT / "assets" / "examples" / "astronaut.jpg"
    server, url = serve(folder, not args.no_isolation)
    result: dict = {"machine": f"{machine()['cpu']}, {platform.machine()}", "isolated": not args.no_isolation}
    with sync_playwright() as pw:
        profile = tempfile.mkdtemp(prefix="chromium-profile-")
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=args.chromium, headless=True,
                                                    args=FLAGS)
        page = ctx.new_page()
        finished: list = []
        page.on("requestfinished", lambda r: finished.append(r))
        t0 = time.perf_counter()
        page.goto(url + "index.html", wait_until="load")
        info = page.evaluate("window.privatePage.ready")
        result["cold_ready_s"] = round(time.perf_counter() - t0, 2)
        sizes = [r.sizes() for r in finished]
        result["bytes_downloaded"] = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
        result["requests"] = len(sizes)
        result["runtime"] = info["runtime"]
        result["threads"] = info["threads"]
        model = [r for r in finished if r.url.endswith("model.onnx")]
        result["model_bytes"] = model[0].sizes()["responseBodySize"] if model else None
        page.close()
        # warm cache: the same profile opens the page again; a photo goes in as soon as it can
        page = ctx.new_page()
        page.goto(url + "index.html", wait_until="commit")
        page.wait_for_selector("#file:not([disabled])", timeout=120_000)
        page.set_input_files("#file", str(photo))
        page.wait_for_selector('#result[data-runs="1"]', timeout=120_000)
        result["warm_first_verdict_s"] = round(page.evaluate("performance.now()") / 1000, 2)
        result["warm_verdict"] = page.evaluate("window.privatePage.last.label")
        model_only = [page.evaluate("window.privatePage.scoreBenchmark(64)") for _ in range(3)]
        result["model_faces_per_s"] = round(statistics.median(r["faces"] / (r["ms"] / 1000) for r in model_only), 1)
        runs = []
        for i in range(3):
            page.set_input_files("#file", [])
            page.set_input_files("#file", str(group))
            page.wait_for_selector(f'#result[data-runs="{i + 2}"]', timeout=120_000)
            last = page.evaluate("window.privatePage.last")
            runs.append(last)
        n = len(runs[0]["faces"])
        result["group_faces"] = n
        result["end_to_end_faces_per_s"] = round(statistics.median(n / (r["timing"]["total_ms"] / 1000) for r in runs), 1)
        result["end_to_end_ms_per_photo"] = round(statistics.median(r["timing"]["total_ms"] for r in runs))
        result["find_ms_per_photo"] = round(statistics.median(r["timing"]["find_ms"] for r in runs))
        result["score_ms_per_photo"] = round(statistics.median(r["timing"]["score_ms"] for r in runs))
        ctx.close()
        shutil.rmtree(profile, ignore_errors=True)
    server.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
