"""Shortcut probe: can real and fake be told apart from metadata alone? It should not be, after our processing.

    python train/shortcut_probe.py --raw SYNTH/manifest.csv --crops /work/packs/synth128 --out eval/shortcut-probe

A logistic regression (5-fold cross-validated ROC AUC on the train split) sees only:
- raw files: file size, width, height, JPEG quality (estimated from the quantisation tables; 100 for PNG/WebP), PNG;
- what the model sees: the encoded size of the face crop (at JPEG q90, a proxy of its detail/sharpness), its height
  and width, and the share of the crop that is black padding (a tight source photo gets padded by the crop margin).
  Once for the pipeline crops as they are (``--crops``: a pack made by ``train/pack.py --detect-faces``), once after
  the ``robust`` training augmentation (random downscaling, JPEG re-encoding, black borders).
An AUC near 0.5 means the metadata carries no label; near 1.0, a model could learn the metadata instead of faces.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from train.data import Degrade, discover, limit_split


def jpeg_quality(im: Image.Image) -> float:
    """libjpeg quality estimated from the luminance quantisation table (100 when the file has none). libjpeg scales
    its base table (mean 57.625) by 5000/q % below q 50 and by (200 - 2q) % above."""
    tables = getattr(im, "quantization", None)
    if not tables:
        return 100.0
    scale = float(np.mean(tables[0])) / 57.625 * 100
    return float(np.clip((200 - scale) / 2 if scale <= 100 else 5000 / scale, 1, 100))


def raw_features(path: Path) -> list[float]:
    with Image.open(path) as im:
        w, h = im.size
        return [np.log(path.stat().st_size), np.log(w), np.log(h), jpeg_quality(im), float(im.format == "PNG")]


def seen_features(rgb: np.ndarray) -> list[float]:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    dark = rgb.max(axis=2) == 0
    rows, cols = dark.all(axis=1), dark.all(axis=0)
    return [np.log(len(buffer.getvalue())), rgb.shape[0], rgb.shape[1], (rows.mean() + cols.mean()) / 2]


def probe(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return float(cross_val_score(model, x, y, cv=5, scoring="roc_auc").mean())


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw", type=Path, required=True, help="the dataset as published (manifest or folder)")
    p.add_argument("--crops", type=Path, required=True, help="the same dataset as pipeline face crops (a pack)")
    p.add_argument("--split", default="train")
    p.add_argument("--limit", type=int, default=3000, help="a class-balanced random subset of N items per probe")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    raw = limit_split(discover(args.raw)[args.split], args.limit, args.seed)
    crops = limit_split(discover(args.crops)[args.split], args.limit, args.seed)
    rgbs = [np.array(Image.open(f).convert("RGB")) for f in crops.files]
    degrade = Degrade()
    augmented = [degrade(torch.from_numpy(r).permute(2, 0, 1)).permute(1, 2, 0).numpy() for r in rgbs]
    results = {
        "raw files": probe(np.array([raw_features(f) for f in raw.files]), np.array(raw.labels), args.seed),
        "pipeline crops": probe(np.array([seen_features(r) for r in rgbs]), np.array(crops.labels), args.seed),
        "pipeline crops + robust augmentation": probe(np.array([seen_features(r) for r in augmented]),
                                                      np.array(crops.labels), args.seed),
    }
    report = {"split": args.split, "n": {"raw": len(raw.files), "crops": len(crops.files)},
              "roc_auc": {k: round(v, 4) for k, v in results.items()}, "raw": str(args.raw), "crops": str(args.crops)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "probe.json").write_text(json.dumps(report, indent=2))
    print("| metadata probe on | ROC AUC (5-fold) |\n|---|---|")
    for k, v in results.items():
        print(f"| {k} | {v:.3f} |")
    return report


if __name__ == "__main__":
    main()
