"""Command line: ``python -m detector FILES_OR_FOLDERS... [--model DIR_OR_REPO] [--json OUT.jsonl] [--cams DIR]``.

Images and videos may be mixed; folders are walked. One JSON line per file goes to ``--json`` (or stdout); a file
that cannot be analysed gets a line with an ``error`` message and the others still run. Exit code: 0 when every file
was analysed, 1 when any failed, 2 for bad arguments or a model that cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from .limits import (AGGREGATIONS, DEFAULT_FRAMES, DEFAULT_MAX_DURATION_S, DEFAULT_MAX_FACES, DEFAULT_MAX_PIXELS,
                     IMAGE_SUFFIXES, MAX_FRAMES, VIDEO_SUFFIXES)
from .sniff import kind_of

log = logging.getLogger("detector")


def iter_files(inputs: Iterable[str]) -> list[Path]:
    """Expand folders (recursively, sorted) into image and video files; files named directly are kept as given."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        else:
            files.append(path)
    return files


def _frames(value: str) -> int:
    n = int(value)
    if not 1 <= n <= MAX_FRAMES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_FRAMES}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m detector", description="Score faces in images and videos as "
                                "real or fake (P(fake)) with a feature-level fusion of CNNs.",
                                epilog="Also: python -m detector export --onnx OUT.onnx [--model ...] [--int8]")
    p.add_argument("inputs", nargs="+", help="image/video files or folders")
    p.add_argument("--model", default=None, help="checkpoint folder or Hugging Face repo id (default: bundled)")
    p.add_argument("--json", type=Path, default=None, help="write one JSON line per file here (default: stdout)")
    p.add_argument("--cams", type=Path, default=None,
                   help="save Grad-CAM overlays (PNG) into this folder: per face of an image, per person of a video "
                        "(its most suspicious frame); the JSON line lists the files")
    p.add_argument("--frames", type=_frames, default=None,
                   help=f"frames sampled per video (default: the model's, {DEFAULT_FRAMES} unless it says)")
    p.add_argument("--aggregation", choices=AGGREGATIONS, default="mean", help="per-track frame aggregation")
    p.add_argument("--whole-image", action="store_true", help="score each image as one face (pre-cropped faces)")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the model's)")
    p.add_argument("--max-faces", type=int, default=DEFAULT_MAX_FACES, help="faces analysed per image (64)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="larger images are refused (50 MP)")
    p.add_argument("--max-duration", type=float, default=DEFAULT_MAX_DURATION_S,
                   help="seconds of a video that are sampled (3600)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="inference precision (auto: bf16 on CPUs with native bf16, fp16 on CUDA)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the log lines of the native libraries (MediaPipe, FFmpeg), hidden by default")
    return p


def _cam_prefix(source: Path) -> str:
    """File-name prefix for one input's CAMs: its stem plus a hash of its full path, so that two inputs with the
    same name in different folders never overwrite each other's files."""
    import hashlib

    return f"{source.stem}-{hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:8]}"


def _save_overlay(crop: object, heatmap: object, path: Path) -> str:
    from PIL import Image

    from .explain import overlay

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(overlay(crop, heatmap)).save(path)
    return str(path)


def _image_cams(result: object, source: Path, folder: Path) -> list[str]:
    """One PNG per face and backbone (plus the fused map); the paths written, in face order."""
    written = []
    for i, face in enumerate(getattr(result, "faces", [])):
        if face.crop is None or not face.heatmaps:
            continue
        for name, heatmap in face.heatmaps.items():
            written.append(_save_overlay(face.crop, heatmap, folder / f"{_cam_prefix(source)}_face{i}_{name}.png"))
    return written


def _video_cams(detector: object, result: object, source: Path, folder: Path) -> list[str]:
    """For each person (track), the CAMs of the frame where that person looked most suspicious."""
    import numpy as np

    picks = []
    for track in result.tracks:
        best = max(range(len(track.scores)), key=lambda k: track.scores[k])
        index, box = track.frame_indices[best], track.boxes[best]
        frame = next(f for f in result.frames if f.index == index)
        face = next((f for f in frame.faces if list(f.box) == list(box)), None)
        if face is not None and face.crop is not None:
            picks.append((track.id, frame, face))
    written = []
    if picks:
        maps = detector.explain_crops(np.stack([face.crop for _, _, face in picks]))
        for (person, frame, face), per_face in zip(picks, maps):
            for name, heatmap in per_face.items():
                path = folder / f"{_cam_prefix(source)}_person{person + 1}_frame{frame.index}_{name}.png"
                written.append(_save_overlay(face.crop, heatmap, path))
    return written


def analyze_files(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .api import Detector
    from .errors import DetectorError

    try:
        detector = Detector.from_pretrained(args.model, device=args.device, max_faces=args.max_faces,
                                            max_pixels=args.max_pixels, max_duration_s=args.max_duration,
                                            precision=args.precision)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = iter_files(args.inputs)
    if not files:
        print("error: no image or video files found in the given inputs.", file=sys.stderr)
        return 2
    out = open(args.json, "w", encoding="utf-8") if args.json else sys.stdout
    failed = 0
    verdicts: dict[str, int] = {}
    try:
        for path in tqdm(files, desc="analysing", unit="file", disable=args.quiet, file=sys.stderr):
            record: dict[str, object] = {"file": str(path)}
            try:
                kind = kind_of(path)
                if kind == "video" or (kind == "unknown" and path.suffix.lower() in VIDEO_SUFFIXES):
                    result = detector.analyze_video(path, frames=args.frames, aggregation=args.aggregation,
                                                    threshold=args.threshold, keep_crops=args.cams is not None)
                    record.update({"type": "video", **result.to_dict()})
                    record["file"] = str(path)
                    if args.cams is not None:
                        record["cams"] = _video_cams(detector, result, path, args.cams)
                else:
                    result = detector.analyze_image(path, explain=args.cams is not None,
                                                    whole_image=args.whole_image, threshold=args.threshold)
                    record.update({"type": "image", **result.to_dict()})
                    if args.cams is not None:
                        record["cams"] = _image_cams(result, path, args.cams)
                verdicts[result.label] = verdicts.get(result.label, 0) + 1
            except DetectorError as exc:
                failed += 1
                record["error"] = str(exc)
            except Exception as exc:  # keep going: one strange file must not stop a batch of thousands
                failed += 1
                log.exception("Unexpected failure on %s", path)
                record["error"] = f"unexpected error ({type(exc).__name__}): {exc}"
            out.write(json.dumps(record) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    summary = ", ".join(f"{n} {label}" for label, n in sorted(verdicts.items()))
    print(f"{len(files)} file(s): {summary or 'none analysed'}" + (f", {failed} failed" if failed else ""),
          file=sys.stderr)
    if failed:
        print(f"{failed} of {len(files)} files could not be analysed (see their 'error' field).", file=sys.stderr)
    return 1 if failed else 0


def silence_native_stderr() -> None:
    """Send what native libraries (MediaPipe/LiteRT, FFmpeg) write to file descriptor 2 to /dev/null, while Python's
    own stderr (progress bar, errors, the summary) keeps the terminal: it is re-opened on a copy of the original."""
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                               errors="backslashreplace")
    except (OSError, ValueError, AttributeError):  # no real stderr (embedded, redirected oddly): leave it
        return


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        from .export import main as export_main

        return export_main(argv[1:])
    args = build_parser().parse_args(argv)
    if not args.verbose:
        silence_native_stderr()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return analyze_files(args)
