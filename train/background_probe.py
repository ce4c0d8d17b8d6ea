"""Does the background decide? Replace it and score again (an intervention), and ask what the background alone tells.

    python train/background_probe.py --model assets/models/default --data /packs/syn /packs/of /packs/dfdc \
        --split val --limit 3000 --out eval/background.json

For each dataset, the person in every crop is found by ``train/background.PersonMasks`` and:
- the background is replaced by its own mean colour (texture gone, colour kept) and by a light studio grey, once in
  the fakes only, once in the reals only, once in both: each class's mean P(fake) and the ROC AUC move as much as the
  model relies on the background;
- the person is replaced by mid grey, so the model sees the background alone (``background only``);
- a logistic regression on simple background statistics (its share of the crop, mean colour, colour spread, detail)
  gives a 5-fold cross-validated ROC AUC: what a model could learn from the background without looking at the face.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from detector.api import Detector
from train.background import PersonMasks, background_colour, fill_background, fill_person
from train.data import dataset_name
from train.soften_probe import _summary, load_probe_set, print_row, write_result

STUDIO_GREY = (200, 200, 200)
MID_GREY = (128, 128, 128)


def background_features(crop: np.ndarray, person: np.ndarray) -> list[float]:
    """Share of background, its mean colour and colour spread, and its detail (mean absolute Laplacian)."""
    weight = 1.0 - person
    share = float(weight.mean())
    total = max(float(weight.sum()), 1.0)
    pixels = crop.reshape(-1, 3).astype(np.float32)
    w = weight.reshape(-1, 1)
    mean = (pixels * w).sum(0) / total
    spread = np.sqrt(((pixels - mean) ** 2 * w).sum(0) / total)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = float((np.abs(cv2.Laplacian(grey, cv2.CV_32F)) * weight).sum() / total)
    return [share, *mean.tolist(), *spread.tolist(), detail]


def background_alone_auc(features: np.ndarray, y: np.ndarray, seed: int = 0) -> float | None:
    if min(int(y.sum()), int(len(y) - y.sum())) < 5:
        return None
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(clf, features, y, cv=5, scoring="roc_auc").mean())


def probe(detector: Detector, crops: np.ndarray, y: np.ndarray, masks: np.ndarray,
          source: list[str] | None = None) -> dict:
    """Scores as packed, with the background flattened (own colour, studio grey) per class, and background only."""
    base = detector.score_crops(crops)
    share = 1.0 - masks.mean(axis=(1, 2))
    out = {"n": len(y), "as packed": _summary(y, base),
           "background share of the crop (fakes, reals)": [round(float(share[y == 1].mean()), 4),
                                                           round(float(share[y == 0].mean()), 4)],
           "background statistics alone, logistic regression, 5-fold ROC AUC": None,
           "fills": {}}
    feats = np.asarray([background_features(c, m) for c, m in zip(crops, masks)])
    auc = background_alone_auc(feats, y)
    out["background statistics alone, logistic regression, 5-fold ROC AUC"] = None if auc is None else round(auc, 4)
    fills = {
        "own mean colour": np.stack([fill_background(c, m, background_colour(c, m)) for c, m in zip(crops, masks)]),
        "studio grey": np.stack([fill_background(c, m, STUDIO_GREY) for c, m in zip(crops, masks)]),
    }
    names = np.asarray(source) if source is not None else None
    for name, filled in fills.items():
        scores = detector.score_crops(filled)
        row = {"fakes filled": _summary(y, np.where(y == 1, scores, base)),
               "reals filled": _summary(y, np.where(y == 0, scores, base)),
               "both filled": _summary(y, scores)}
        if names is not None:
            row["mean score per source (as packed -> filled)"] = {
                s: [round(float(base[names == s].mean()), 4), round(float(scores[names == s].mean()), 4)]
                for s in sorted(set(source))}
        out["fills"][name] = row
    alone = detector.score_crops(np.stack([fill_person(c, m, MID_GREY) for c, m in zip(crops, masks)]))
    out["background only"] = _summary(y, alone)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint folder or Hub id (default: the bundled model)")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="packed face crops (train/pack.py)")
    p.add_argument("--split", default="val")
    p.add_argument("--limit", type=int, default=None, help="at most this many crops per dataset (seeded)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    detector = Detector.from_pretrained(args.model)
    segment = PersonMasks()
    result = {"model": detector.name, "split": args.split, "datasets": {}}
    for data in args.data:
        crops, y, names = load_probe_set(data, args.split, args.limit, detector.pre.img_size)
        row = probe(detector, crops, y, segment.masks(crops), names)
        result["datasets"][dataset_name(data)] = row
        print_row(dataset_name(data), row, "fills")
    segment.close()
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
