"""Several concurrent gradio_client clients against the live app: bounded in count and time, loopback only."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from app_server import ROOT, AppServer

CLIENTS = 4
PER_CLIENT = 25  # per round
ROUNDS = 3


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    uploads = tmp_path_factory.mktemp("gradio-tmp")
    outputs = tmp_path_factory.mktemp("outputs")
    srv = AppServer(tiny_checkpoint, tmp_path_factory.mktemp("app") / "app.log",
                    {"GRADIO_TEMP_DIR": str(uploads), "DEEPFAKE_OUTPUT_DIR": str(outputs),
                     "DEEPFAKE_CONCURRENCY": "2"}).wait()
    srv.uploads, srv.outputs = uploads, outputs
    yield srv
    srv.stop()


def test_concurrent_clients_all_succeed(server, tmp_path):
    from gradio_client import Client, handle_file

    photo = ROOT / "assets" / "examples" / "astronaut.jpg"
    warm = Client(server.url, verbose=False)
    warm.predict(handle_file(str(photo)), False, "bundled default", 0.5, 0.5, 1.15, api_name="/analyze_image")
    rss_before = server.rss_mb()

    def worker(_: int) -> list[float]:
        client = Client(server.url, verbose=False)
        latencies = []
        for _ in range(PER_CLIENT):
            started = time.time()
            out = client.predict(handle_file(str(photo)), False, "bundled default", 0.5, 0.5, 1.15,
                                 api_name="/analyze_image")
            assert out[-1]["n_faces"] == 1
            latencies.append(time.time() - started)
        return latencies

    started = time.time()
    latencies, rss = [], []
    for _ in range(ROUNDS):
        with ThreadPoolExecutor(CLIENTS) as pool:
            latencies += [x for chunk in pool.map(worker, range(CLIENTS)) for x in chunk]
        rss.append(server.rss_mb())
    wall = time.time() - started
    time.sleep(31)  # older than the app's 30 s sweep age
    warm.predict(handle_file(str(photo)), False, "bundled default", 0.5, 0.5, 1.15, api_name="/analyze_image")
    files = [p for p in server.uploads.rglob("*") if p.is_file()]
    outputs = [p for p in server.outputs.iterdir()]
    report = {"requests": len(latencies), "failed": ROUNDS * CLIENTS * PER_CLIENT - len(latencies),
              "wall_s": round(wall, 1), "rss_after_each_round_mb": [round(r) for r in rss],
              "p50_s": round(float(np.percentile(latencies, 50)), 3),
              "p95_s": round(float(np.percentile(latencies, 95)), 3),
              "rss_before_mb": round(rss_before),
              "gradio_cache_files": len(files), "app_output_files": len(outputs)}
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "load.json").write_text(json.dumps(report, indent=2))
    print(report)
    assert report["failed"] == 0
    # the first round warms allocator arenas and caches, after which RSS moves by up to about 80 MB either way
    # between rounds (allocator noise, measured); a leak keeps growing: 200 more requests may add < 150 MB
    assert rss[-1] - rss[0] < 150, report
    # uploads of the same photo are de-duplicated by content, outputs too: the cache does not grow per request
    assert len(files) < 40, report
    assert len(outputs) <= 6, report  # only the last request's outputs are left
