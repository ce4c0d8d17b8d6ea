"""Measure the crop geometry of the training crops, so inference crops match them.

    python train/calibrate_crops.py --faces ../shared/data/dfdc-faces --videos ../shared/data/dfdc-videos

Two measurements, both relative to MediaPipe's full-range box (the reference geometry of ``detector.faces``):

1. Exact: for every video whose own crop is in the faces manifest, the crop is located in the video's frames by
   template matching; on the best-matching frame the crop side / box side gives ``crop_margin`` and the offset of
   the crop centre below the box centre (in box sides) gives ``crop_shift_y``.
2. Approximate, on many crops: the detectors run on the crops themselves; crop side / box side, and the ratio
   full-range side / short-range side for the same face (``SHORT_TO_FULL_SCALE``).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from detector.faces import SHORT_TO_FULL_SCALE, FaceFinder
from detector.images import load_image


def _raw_side(box: tuple[int, int, int, int], kind: str) -> float:
    side = float(max(box[2], box[3]))
    return side / SHORT_TO_FULL_SCALE if kind == "short" else side


def exact_from_videos(faces_dir: Path, videos_dir: Path, full: FaceFinder, step: int = 10) -> list[dict]:
    rows = {r["video"]: r for r in csv.DictReader(open(faces_dir / "manifest.csv", newline=""))}
    found = []
    for video in sorted(videos_dir.glob("*.mp4")):
        row = rows.get(video.stem)
        if row is None:
            continue
        crop = cv2.imread(str(faces_dir / row["file"]))
        side = int(row["crop_width"])
        template = cv2.resize(crop, (side, int(row["crop_height"])), interpolation=cv2.INTER_AREA)
        cap = cv2.VideoCapture(str(video))
        best = None
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if index % step == 0:
                score = cv2.minMaxLoc(cv2.matchTemplate(frame, template, cv2.TM_CCOEFF_NORMED))
                if best is None or score[1] > best[0]:
                    best = (score[1], score[3], frame[:, :, ::-1].copy())
            index += 1
        if best is None or best[0] < 0.9:
            continue
        _, (cx, cy), rgb = best
        boxes = full.detect(rgb)
        if not boxes:
            continue
        x, y, w, h = boxes[0].box
        b = max(w, h)
        found.append({"video": video.name, "match": round(best[0], 3), "crop_side": side, "box_side": b,
                      "crop_margin": round(side / b, 3),
                      "crop_shift_y": round((cy + side / 2 - (y + h / 2)) / b, 3)})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=Path, required=True, help="folder with manifest.csv of face crops")
    parser.add_argument("--videos", type=Path, help="folder of videos whose crops are in the manifest")
    parser.add_argument("--n", type=int, default=600, help="how many crops to sample for the approximate measure")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    full, short = FaceFinder(0.5, "full"), FaceFinder(0.5, "short")
    rows = list(csv.DictReader(open(args.faces / "manifest.csv", newline="")))
    random.Random(args.seed).shuffle(rows)
    margins, ratios = [], []
    for row in tqdm(rows[: args.n], desc="crops"):
        rgb = load_image(args.faces / row["file"])
        ff, fs = full.detect(rgb), short.detect(rgb)
        if len(ff) == 1:
            margins.append(max(rgb.shape[:2]) / _raw_side(ff[0].box, "full"))
            if len(fs) == 1:
                ratios.append(_raw_side(ff[0].box, "full") / _raw_side(fs[0].box, "short"))
    report = {
        "crops_measured": len(margins),
        "crops_crop_margin_median": round(float(np.median(margins)), 3) if margins else None,
        "crops_short_to_full_scale_median": round(float(np.median(ratios)), 3) if ratios else None,
        "exact_video_matches": exact_from_videos(args.faces, args.videos, full) if args.videos else [],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
