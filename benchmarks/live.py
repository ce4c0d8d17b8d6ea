"""Live benchmark (not a test): a clip replayed through the Live tab's own handler, frame after frame.

    python benchmarks/live.py --out assets/results/live-cpu.json             # a 640x480 clip made here, one face
    python benchmarks/live.py --clip ../shared/data/dfdc-videos/lynaeydofd.mp4 --width 640

It calls ``app.LiveHandler`` (what the browser's frames go through: decode, face detection, scoring on the runtime's
chosen path, tracking, smoothing, drawing the boxes, the verdict HTML) with frames as fast as it returns, and reports
frames per second, latency p50/p95 and which scoring path the runtime chose, with the machine named.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_app() -> object:
    """The app module (app.py in the repository root, which is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def made_clip(frames: int) -> list[np.ndarray]:
    """640x480 frames of the public-domain astronaut portrait drifting over a grey background (one face)."""
    from skimage import data

    head = cv2.resize(data.astronaut()[0:330, 90:420], (300, 300), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(frames):
        frame = np.full((480, 640, 3), 100, np.uint8)
        x = 120 + int(60 * np.sin(i / 12))
        frame[90:390, x:x + 300] = head
        out.append(frame)
    return out


def clip_frames(path: Path, width: int, limit: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while len(out) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        frame = cv2.resize(frame, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
        out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    if not out:
        raise SystemExit(f"error: no frame could be read from {path}")
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=None, help="a video to replay (default: a clip made here)")
    p.add_argument("--width", type=int, default=640, help="frames are resized to this width (a webcam's)")
    p.add_argument("--frames", type=int, default=300, help="frames replayed")
    p.add_argument("--warmup", type=int, default=10, help="frames processed before timing starts")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    app = load_app()
    frames = clip_frames(args.clip, args.width, args.frames) if args.clip else made_clip(args.frames)
    store = app.ModelStore()
    handler = app.LiveHandler(store)
    detector = store.get(app.BUNDLED)
    state = None
    for frame in frames[: args.warmup]:
        _, _, state = handler(frame, state)
    latencies, faces = [], []
    started = time.perf_counter()
    for frame in frames:
        t0 = time.perf_counter()
        _, _, state = handler(frame, state)
        latencies.append((time.perf_counter() - t0) * 1000)
        faces.append(len(state["session"].tracker.people))
    elapsed = time.perf_counter() - started
    latencies.sort()
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "clip": str(args.clip) if args.clip else "made here: 640x480, one face",
              "frames": len(frames), "fps": round(len(frames) / elapsed, 2),
              "latency_p50_ms": round(statistics.median(latencies), 1),
              "latency_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
              "faces_per_frame": round(float(np.mean(faces)), 2), "scoring_path": detector.runtime.backend,
              "scoring_path_choice": detector.runtime.choice, "model": detector.name}
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
