"""Command line: ``python -m detector FILES_OR_FOLDERS... [--model DIR_OR_REPO] [--json OUT.jsonl] [--cams DIR]``.

Images and videos may be mixed; folders are walked. One JSON line per file goes to ``--json`` (or stdout); a file
that cannot be analysed gets a line with an ``error`` message and the others still run. Exit code: 0 when every file
was analysed, 1 when any failed, 2 for bad arguments or a model that cannot be loaded.

``python -m detector --stream FILE|DEVICE`` is the live mode: one JSON line per processed frame with each person's
smoothed verdict (``Detector.stream``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
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
    n = _positive_int(value)
    if n > MAX_FRAMES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_FRAMES}")
    return n


def _checked(convert: type, accept: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """An argparse type: the value converted (int or float), then refused with ``rule`` unless ``accept(value)``."""
    def parse(value: str) -> float:
        try:
            number = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a {'whole ' if convert is int else ''}number") from None
        if not accept(number):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
        return number

    return parse


_positive_int = _checked(int, lambda n: n >= 1, "at least 1")
_positive_float = _checked(float, lambda x: 0 < x < float("inf"), "a positive number of seconds")
_probability = _checked(float, lambda x: 0.0 < x < 1.0, "strictly between 0 and 1")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m detector", description="Score faces in images and videos (or a "
                                "live stream) as real or fake (P(fake)) with a feature-level fusion of CNNs.",
                                epilog="Also: python -m detector export --onnx OUT.onnx [--model ...] [--int8]; "
                                       "python -m detector web --out DIR [--model ...] (the private page, README "
                                       "\"Private mode\")")
    p.add_argument("inputs", nargs="*", help="image/video files or folders")
    p.add_argument("--stream", default=None, metavar="FILE|DEVICE",
                   help="live mode: read a video file (replayed frame by frame) or a camera (a device number such as "
                        "0, or /dev/videoN) and print one JSON line per processed frame with each person's smoothed "
                        "verdict, for integrations (a virtual camera, OBS); a camera's frames are dropped, never "
                        "queued, when scoring falls behind")
    p.add_argument("--model", default=None, help="checkpoint folder or Hugging Face repo id (default: bundled)")
    p.add_argument("--json", type=Path, default=None, help="write one JSON line per file here (default: stdout)")
    p.add_argument("--cams", type=Path, default=None,
                   help="save Grad-CAM overlays (PNG) into this folder: per face of an image, per person of a video "
                        "(its most suspicious frame); the JSON line lists the files")
    p.add_argument("--frames", type=_frames, default=None,
                   help=f"frames sampled per video (default: the model's, {DEFAULT_FRAMES} unless it says)")
    p.add_argument("--aggregation", choices=AGGREGATIONS, default=None,
                   help="how a person's frame scores become one (default: the model's video_aggregation)")
    p.add_argument("--whole-image", action="store_true", help="score each image as one face (pre-cropped faces)")
    p.add_argument("--threshold", type=_probability, default=None, help="decision threshold (default: the model's)")
    p.add_argument("--max-faces", type=_positive_int, default=DEFAULT_MAX_FACES, help="faces analysed per image (64)")
    p.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS,
                   help="larger images are refused (50 MP)")
    p.add_argument("--max-duration", type=_positive_float, default=DEFAULT_MAX_DURATION_S,
                   help="seconds of a video that are sampled (3600)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="inference precision (auto: bf16 on CPUs with native bf16, fp16 on CUDA)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--allow-unhashed", action="store_true",
                   help="load a checkpoint whose config.json records no weights_sha256 (your own training runs); "
                        "by default such a checkpoint is refused unless it is the bundled one")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the log lines of the native libraries (MediaPipe, FFmpeg), hidden by default")
    return p


def _cam_prefix(source: Path) -> str:
    """File-name prefix for one input's CAMs: its stem plus a hash of its full path, so that two inputs with the
    same name in different folders never overwrite each other's files."""
    import hashlib

    return f"{source.stem}-{hashlib.sha256(os.fsencode(source.resolve())).hexdigest()[:8]}"


def _save_overlay(crop: object, heatmap: object, path: Path) -> str:
    from PIL import Image

    from .explain import overlay

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(overlay(crop, heatmap)).save(path)
    return str(path)


def _image_cams(result: object, source: Path, folder: Path) -> list[str]:
    """One PNG per face and backbone (plus the fused map); the paths written, in face order."""
    written = []
    for i, face in enumerate(getattr(result, "faces", []), start=1):  # numbered as the app numbers faces
        if face.crop is None or not face.heatmaps:
            continue
        for name, heatmap in face.heatmaps.items():
            written.append(_save_overlay(face.crop, heatmap, folder / f"{_cam_prefix(source)}_face{i}_{name}.png"))
    return written


def _video_cams(result: object, source: Path, folder: Path) -> list[str]:
    """For each person, the CAMs of their evidence frame (``analyze_video(explain=1)``: their most suspicious)."""
    written = []
    for track in result.tracks:
        for evidence in track.evidence:
            for name, heatmap in (evidence.face.heatmaps or {}).items():
                path = folder / f"{_cam_prefix(source)}_person{track.id}_frame{evidence.frame_index}_{name}.png"
                written.append(_save_overlay(evidence.face.crop, heatmap, path))
    return written


def check_options(args: argparse.Namespace) -> str | None:
    """Every option a user can get wrong, checked before the model loads; the message to print, or None."""
    from .runtime import pick_device
    from .errors import DetectorError

    try:
        pick_device(args.device)
    except DetectorError as exc:
        return f"--device: {exc}"
    if args.json is not None:
        if args.json.is_dir():
            return f"--json {args.json}: is a folder; give a file name such as {args.json / 'results.jsonl'}."
        if not args.json.parent.is_dir():
            return f"--json {args.json}: the folder {args.json.parent} does not exist."
        if not os.access(args.json.parent, os.W_OK):
            return f"--json {args.json}: the folder {args.json.parent} is not writable."
    if args.cams is not None:
        if args.cams.exists() and not args.cams.is_dir():
            return f"--cams {args.cams}: exists and is not a folder; give a folder for the heatmap images."
        try:
            args.cams.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"--cams {args.cams}: the folder cannot be created ({exc.strerror or exc})."
    return None


def load_detector(args: argparse.Namespace) -> object | None:
    """The Detector the options ask for, or None after saying on stderr why the model cannot be loaded."""
    from .api import Detector
    from .errors import DetectorError

    try:
        return Detector.from_pretrained(args.model, device=args.device, max_faces=args.max_faces,
                                        max_pixels=args.max_pixels, max_duration_s=args.max_duration,
                                        precision=args.precision, require_hash=not args.allow_unhashed)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def analyze_files(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .errors import DetectorError
    from .sniff import check_regular

    problem = check_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    files = iter_files(args.inputs)
    if not files:
        print("error: no image or video files found in the given inputs.", file=sys.stderr)
        return 2
    try:
        out = open(args.json, "w", encoding="utf-8") if args.json else sys.stdout
    except OSError as exc:
        print(f"error: --json {args.json}: cannot be written ({exc.strerror or exc}).", file=sys.stderr)
        return 2
    detector = load_detector(args)
    if detector is None:
        if out is not sys.stdout:
            out.close()
        return 2
    failed = 0
    verdicts: dict[str, int] = {}
    try:
        for path in tqdm(files, desc="analysing", unit="file", disable=args.quiet, file=sys.stderr):
            record: dict[str, object] = {"file": str(path)}
            try:
                check_regular(path)  # a pipe or a device is refused by kind, never opened
                kind = kind_of(path)
                if kind == "video" or (kind == "unknown" and path.suffix.lower() in VIDEO_SUFFIXES):
                    result = detector.analyze_video(path, frames=args.frames, aggregation=args.aggregation,
                                                    threshold=args.threshold, explain=1 if args.cams else 0)
                    record.update({"type": "video", **result.to_dict()})
                    record["file"] = str(path)
                    if args.cams is not None:
                        record["cams"] = _video_cams(result, path, args.cams)
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
            out.write(json.dumps(record, ensure_ascii=True) + "\n")
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
    if argv and argv[0] == "web":
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        from .private_page import main as web_main

        return web_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.inputs) == bool(args.stream):
        parser.error("give files or folders to analyse, or --stream FILE|DEVICE (one of the two).")
    if not args.verbose:
        silence_native_stderr()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return stream_source(args) if args.stream else analyze_files(args)


def open_source(source: str) -> tuple[object, bool]:
    """An OpenCV capture of a camera (``0``, ``/dev/video0``) or a video file, and whether it is a live camera."""
    import cv2

    from .errors import InputError
    from .sniff import check_regular

    live = source.isdigit() or source.startswith("/dev/video")
    if not live:
        check_regular(source)
    cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise InputError(f"{source}: cannot be opened as a {'camera' if live else 'video'}.")
    return cap, live


def camera_frames(cap: object, live: bool) -> Iterable:
    """RGB frames of a capture. A live camera is read by a thread that keeps only the newest frame, so a slow
    scorer skips frames instead of falling behind; a file gives every frame in order (a replay)."""
    import threading

    import cv2

    if not live:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    newest: list = [None]
    ended = threading.Event()
    fresh = threading.Condition()

    def read() -> None:
        while not ended.is_set():
            ok, frame = cap.read()
            with fresh:
                newest[0] = frame if ok else None
                if not ok:
                    ended.set()
                fresh.notify()

    threading.Thread(target=read, daemon=True).start()
    try:
        while True:
            with fresh:
                fresh.wait_for(lambda: newest[0] is not None or ended.is_set(), timeout=5.0)
                frame, newest[0] = newest[0], None
            if frame is None:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        ended.set()


def stream_source(args: argparse.Namespace) -> int:
    """``--stream``: one JSON line per processed frame on stdout (or --json), a summary on stderr."""
    from .errors import DetectorError

    problem = check_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        cap, live = open_source(args.stream)
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    detector = load_detector(args)
    if detector is None:
        cap.release()
        return 2
    out = open(args.json, "w", encoding="utf-8") if args.json else sys.stdout
    processed, last = 0, None
    try:
        for frame in detector.stream(camera_frames(cap, live)):
            out.write(json.dumps(frame.to_dict()) + "\n")
            out.flush()
            processed, last = processed + 1, frame
    except KeyboardInterrupt:
        pass
    finally:
        cap.release()
        if out is not sys.stdout:
            out.close()
    summary = "no frame could be read" if last is None else (
        f"{processed} frame(s), {last.fps:.1f} frames/s; last verdict: {last.label}"
        + ("" if last.score is None else f" ({last.score:.0%})"))
    print(summary, file=sys.stderr)
    return 0 if processed else 1
