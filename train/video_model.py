"""Give a checkpoint a second model for videos.

    python train/video_model.py --model runs/photo --video runs/clips --out assets/models/default

Writes OUT: the checkpoint of ``--model`` (config, weights, card) with ``--video`` copied into ``OUT/video/`` and
``"video_model": "video"`` in ``OUT/config.json``. ``Detector.from_pretrained`` then scores photos with the first and
videos with the second (its own frame count, aggregation and clip calibration), and so do the app, the CLI, the
private page and ``train/evaluate.py``; live streams, judged face by face as frames arrive, stay with the first.
Why two: the weights that read face swaps and talking heads best in a clip are not the ones that read photos best
(README, "Results"); each is chosen on its own validation set. Calibrate both
(``train/calibrate.py``, ``train/calibrate_clips.py`` on ``--video``) before putting them together; the files are
copied, never re-saved, so their recorded SHA-256 still holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from detector.checkpoint import CARD_NAME, CONFIG_NAME, VIDEO_DIR, WEIGHTS_NAME, read_config, resolve_checkpoint
from detector.model import FusionDetector

FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)


def _copy(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)


def refuse_two_models(checkpoint: str | os.PathLike) -> None:
    """Calibration re-saves one checkpoint: refuse one that carries a model for videos, which would be left behind."""
    if "video_model" in read_config(resolve_checkpoint(checkpoint)):
        raise SystemExit(f"error: {checkpoint} carries a model for videos in {VIDEO_DIR}/: calibrate each checkpoint "
                         f"on its own (clips: {Path(checkpoint) / VIDEO_DIR}), then put them together with "
                         "train/video_model.py.")


def attach(model: str | os.PathLike, video: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write ``out``: ``model`` with ``video`` as its model for videos (see the module docstring)."""
    photo_dir, video_dir, out = resolve_checkpoint(model), resolve_checkpoint(video), Path(out)
    video_config = read_config(video_dir)
    if "video_model" in video_config:
        raise ValueError(f"{video_dir} names a model for videos of its own; give the one that scores the videos")
    if "clip_calibration" not in video_config:
        print(f"note: {video_dir} has no clip-level calibration (train/calibrate_clips.py): its clips are judged at "
              "the per-face threshold")
    FusionDetector.from_pretrained(video_dir, require_hash=True)  # refuse weights that do not match their config
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _copy(photo_dir, tmp)
        _copy(video_dir, tmp / VIDEO_DIR)
        config = read_config(tmp)
        config["video_model"] = VIDEO_DIR
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        tmp.chmod(0o755)  # a temporary folder is private to its owner; a checkpoint is read by whoever serves it
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="the checkpoint for photos (its config, weights and card are kept)")
    p.add_argument("--video", required=True, help="the checkpoint for videos")
    p.add_argument("--out", type=Path, required=True, help="the folder to write (replaced if it exists)")
    args = p.parse_args(argv)
    try:
        out = attach(args.model, args.video, args.out)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"{out}: photos and live streams by {args.model}, videos by {args.video} (in {out / VIDEO_DIR})")
    return out


if __name__ == "__main__":
    main()
