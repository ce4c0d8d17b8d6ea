"""Load benchmark (not a test): the real app under concurrent requests, its memory round by round.

    python benchmarks/load.py --out assets/results/load-cpu.json             # 3 rounds x 210 requests, 32 at once
    DEEPFAKE_BOUND_ALLOCATOR=0 python benchmarks/load.py --out load-unbounded.json   # the app without its bound

Starts ``python app.py`` on a free port of 127.0.0.1 (the bundled model unless ``--model``), then sends rounds of
photo requests through ``gradio_client`` from ``--concurrency`` threads, heatmaps on (the Photo tab always makes
them). About 10 % of the requests are bad files (text named .jpg, a truncated JPEG, a 1x1 PNG), which must come back
as an error result while the rest come back scored. After each round it reads the server's RSS from /proc; it reports
RSS per round, p50/p95 latency and the counts, and says whether RSS after the last round is within 15 % of RSS after
the first. Only loopback is used.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_inputs(folder: Path) -> tuple[list[Path], list[Path]]:
    """Good photos (public-domain scikit-image pictures, several sizes) and bad files."""
    from skimage import data

    good = []
    for name, rgb in (("astronaut", data.astronaut()), ("astronaut-small", data.astronaut()[::2, ::2])):
        path = folder / f"{name}.jpg"
        Image.fromarray(np.ascontiguousarray(rgb)).save(path, quality=90)
        good.append(path)
    wide = np.full((600, 1400, 3), 120, np.uint8)
    wide[44:556, 444:956] = data.astronaut()
    Image.fromarray(wide).save(folder / "wide.jpg", quality=90)
    good.append(folder / "wide.jpg")
    bad = [folder / "text.jpg", folder / "truncated.jpg", folder / "one-pixel.png"]
    bad[0].write_text("not a picture\n" * 50)
    bad[1].write_bytes(good[0].read_bytes()[:4000])
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    bad[2].write_bytes(buf.getvalue())
    return good, bad


def start_server(model: str | None, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    if model:
        env["DEEPFAKE_DEFAULT_MODEL"] = str(Path(model).resolve())
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited early; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"the app did not start in 300 s; see {log}")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint folder served as the app's default (default: bundled)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=210, help="requests per round")
    p.add_argument("--concurrency", type=int, default=32, help="client threads sending at once")
    p.add_argument("--bad-share", type=float, default=0.1, help="share of bad files among the requests")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds one request may take")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    from gradio_client import Client, handle_file

    work = Path(tempfile.mkdtemp(prefix="load-bench-"))
    good, bad = make_inputs(work)
    proc, url = start_server(args.model, work / "server.log")
    local = threading.local()

    def request(i: int) -> tuple[float, str]:
        """One photo request: (latency in s, outcome 'scored' / 'error' / 'wrong' / 'timeout' / 'failed')."""
        if not hasattr(local, "client"):
            local.client = Client(url, verbose=False)
        is_bad = (i * args.bad_share) % 1.0 + args.bad_share > 1.0 - 1e-9  # every 1/bad_share-th request
        path = bad[i % len(bad)] if is_bad else good[i % len(good)]
        started = time.perf_counter()
        try:
            job = local.client.submit(image=handle_file(str(path)), api_name="/analyze_image")  # the app's settings
            data = job.result(timeout=args.timeout)[-1]
        except TimeoutError:
            return time.perf_counter() - started, "timeout"
        except Exception:  # noqa: BLE001 - the benchmark counts any client-side failure
            return time.perf_counter() - started, "failed"
        took = time.perf_counter() - started
        if is_bad:
            return took, "error" if isinstance(data, dict) and data.get("error") else "wrong"
        return took, "scored" if isinstance(data, dict) and "n_faces" in data else "wrong"

    rounds = []
    try:
        baseline = rss_mb(proc.pid)
        for r in range(args.rounds):
            t0 = time.time()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(request, range(r * args.requests, (r + 1) * args.requests)))
            latencies = sorted(t for t, _ in results)
            counts = {k: sum(o == k for _, o in results) for k in ("scored", "error", "wrong", "timeout", "failed")}
            row = {"round": r + 1, "rss_mb": round(rss_mb(proc.pid), 1), "seconds": round(time.time() - t0, 1),
                   "p50_s": round(statistics.median(latencies), 2),
                   "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2), **counts}
            rounds.append(row)
            print(json.dumps(row), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    growth = (rounds[-1]["rss_mb"] - rounds[0]["rss_mb"]) / rounds[0]["rss_mb"]
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "bound_allocator": os.environ.get("DEEPFAKE_BOUND_ALLOCATOR") != "0",
              "model": args.model or "bundled default", "requests_per_round": args.requests,
              "concurrency": args.concurrency, "bad_share": args.bad_share, "rss_start_mb": round(baseline, 1),
              "rounds": rounds, "rss_growth_last_vs_first": round(growth, 4), "within_15_percent": abs(growth) <= 0.15,
              "server_tracebacks": (work / "server.log").read_text(errors="replace").count("Traceback")}
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
