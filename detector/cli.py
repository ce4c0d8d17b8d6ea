"""Command line: ``python -m detector FILES_OR_FOLDERS... [--model DIR_OR_REPO] [--json OUT.jsonl] [--cams DIR]``.

Images and videos may be mixed; folders are walked. One JSON line per file goes to ``--json`` (or stdout); a file
that cannot be analysed gets a line with an ``error`` message and the others still run. Exit code: 0 when every file
was analysed, 1 when any failed, 2 for bad arguments or a model that cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from tqdm import tqdm

from .api import DEFAULT_MAX_FACES
from .errors import DetectorError
from .images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from .sniff import kind_of
from .video import AGGREGATIONS, DEFAULT_FRAMES, DEFAULT_MAX_DURATION_S, MAX_FRAMES, VIDEO_SUFFIXES

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
    p.add_argument("--cams", type=Path, default=None, help="save Grad-CAM overlays (PNG) per face into this folder")
    p.add_argument("--frames", type=_frames, default=DEFAULT_FRAMES, help="frames sampled per video (default 32)")
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
    return p


def _save_cams(result: object, source: Path, folder: Path) -> None:
    from PIL import Image

    from .explain import overlay

    folder.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(getattr(result, "faces", [])):
        if face.crop is None or not face.heatmaps:
            continue
        for name, heatmap in face.heatmaps.items():
            Image.fromarray(overlay(face.crop, heatmap)).save(folder / f"{source.stem}_face{i}_{name}.png")


def analyze_files(args: argparse.Namespace) -> int:
    from .api import Detector

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
    try:
        for path in tqdm(files, desc="analysing", unit="file", disable=args.quiet, file=sys.stderr):
            record: dict[str, object] = {"file": str(path)}
            try:
                kind = kind_of(path)
                if kind == "video" or (kind == "unknown" and path.suffix.lower() in VIDEO_SUFFIXES):
                    result = detector.analyze_video(path, frames=args.frames, aggregation=args.aggregation,
                                                    threshold=args.threshold)
                    record.update({"type": "video", **result.to_dict()})
                    record["file"] = str(path)
                else:
                    result = detector.analyze_image(path, explain=args.cams is not None,
                                                    whole_image=args.whole_image, threshold=args.threshold)
                    record.update({"type": "image", **result.to_dict()})
                    if args.cams is not None:
                        _save_cams(result, path, args.cams)
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
    if failed:
        print(f"{failed} of {len(files)} files could not be analysed (see their 'error' field).", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if argv and argv[0] == "export":
        from .export import main as export_main

        return export_main(argv[1:])
    return analyze_files(build_parser().parse_args(argv))
