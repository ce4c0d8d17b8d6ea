"""Does the model read image quality instead of traces of manipulation? Score against sharpness and JPEG history.

    python train/evaluate.py --model M --data /packs/synthetic --split val --out eval/syn-val
    python train/quality_probe.py --scores eval/syn-val/scores.csv --raw /data/synthetic/manifest.csv \
        --out eval/syn-val/quality.json

For each class separately (so the label itself cannot create a correlation), the Spearman rank correlation of the
model's P(fake) with:
- ``sharpness``: the variance of the Laplacian of the face crop the model saw (a soft, upscaled or compressed face
  is low);
- ``jpeg_quality``: the JPEG quality of the source file, estimated from its quantisation table (100 for PNG/WebP).
A model that learnt "soft or compressed = fake" shows a negative correlation with both among the reals (and the
fakes); one that reads the face shows correlations near 0. Packed crops are named ``SPLIT-NNNNN-STEM.ext``
(``train/pack.py``): the source file is found by its stem in ``--raw``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import cv2
from PIL import Image
from scipy.stats import spearmanr

from train.shortcut_probe import jpeg_quality


def sharpness(path: Path) -> float:
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def raw_quality(path: Path) -> float:
    with Image.open(path) as im:
        return jpeg_quality(im)


def correlations(rows: list[dict]) -> dict:
    out = {}
    for label, name in ((0, "real"), (1, "fake")):
        mine = [r for r in rows if r["label"] == label]
        entry = {"n": len(mine)}
        for key in ("sharpness", "jpeg_quality"):
            pairs = [(r["score"], r[key]) for r in mine if r.get(key) is not None]
            if len(pairs) > 2 and len({v for _, v in pairs}) > 1:
                rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
                entry[key] = round(float(rho), 3)
            else:
                entry[key] = None
        out[name] = entry
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scores", type=Path, required=True, help="scores.csv of train/evaluate.py")
    p.add_argument("--raw", type=Path, default=None, help="the source manifest.csv the crops were packed from")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    by_stem = {}
    if args.raw:
        with open(args.raw, newline="", encoding="utf-8") as fh:
            by_stem = {Path(r["file"]).stem: args.raw.parent / r["file"] for r in csv.DictReader(fh)}
    rows = []
    with open(args.scores, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            path = Path(r["file"])
            stem = re.sub(r"^(train|val|test)-\d{5}-", "", path.stem)
            source = by_stem.get(stem)
            rows.append({"label": int(r["label"]), "score": float(r["score"]), "sharpness": sharpness(path),
                         "jpeg_quality": raw_quality(source) if source else None})
    result = correlations(rows)
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
