"""Which faces should decide a photo's verdict? Measured from ``photos.jsonl`` (``evaluate.py --detect-faces``).

    python train/photo_rules.py --photos eval/of-val-faces/photos.jsonl [--threshold 0.62] [--out rules.json]

The app scores a photo by its most suspicious face. A photo with several faces then has several chances of a false
alarm, and faces the detector is unsure of, or that are tiny, may be judged worse. This prints, for each rule
"only faces with detector confidence >= c and box side >= s px may decide (all faces when none qualifies)", the
photo-level ROC AUC, the accuracy and the share of real photos called fake at the threshold; the "largest face only"
rule for reference; the app's rule (faces cut by the photo's edge decide only when no whole face is there) against
every face deciding; and each face's false-fake rate by box size and by whether it is cut by the edge, so a rule is
chosen on validation photos, not guessed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

CONFIDENCES = (0.5, 0.6, 0.7, 0.8, 0.9)
SIDES = (0, 32, 48, 64, 96, 128)
SIZE_BINS = ((0, 48), (48, 64), (64, 96), (96, 128), (128, 256), (256, 100_000))


def photo_score(record: dict, min_confidence: float = 0.0, min_side: int = 0, largest: bool = False,
                whole: bool = False) -> float:
    """A photo's score under a rule; a photo without faces keeps its whole-image score. ``whole``: only faces the
    model saw whole (not cut by the photo's edge) may decide, the app's rule."""
    faces = record["faces"]
    if not faces:
        return record["whole_image_score"]
    ok = [f for f in faces if f["confidence"] >= min_confidence and max(f["box"][2], f["box"][3]) >= min_side
          and not (whole and f.get("at_edge"))]
    ok = ok or faces
    if largest:
        return max(ok, key=lambda f: f["box"][2] * f["box"][3])["score"]
    return max(f["score"] for f in ok)


def table(records: list[dict], threshold: float) -> dict:
    y = np.array([r["label"] for r in records])

    def row(scores: np.ndarray) -> dict:
        return {"roc_auc": round(float(roc_auc_score(y, scores)), 4),
                "accuracy": round(float(np.mean((scores >= threshold) == y)), 4),
                "real_called_fake": round(float(np.mean(scores[y == 0] >= threshold)), 4)}

    rules = {f"conf>={c} side>={s}": row(np.array([photo_score(r, c, s) for r in records]))
             for c in CONFIDENCES for s in SIDES}
    rules["largest face only"] = row(np.array([photo_score(r, largest=True) for r in records]))
    edges = [f.get("at_edge") for r in records for f in r["faces"]]
    by_edge = {}
    if edges and None not in edges:  # photos.jsonl of an evaluate.py that records at_edge
        rules["every face decides"] = row(np.array([photo_score(r) for r in records]))
        rules["whole faces decide (the app)"] = row(np.array([photo_score(r, whole=True) for r in records]))
        for cut, name in ((True, "cut by the edge"), (False, "whole")):
            mine = [(f["score"], r["label"]) for r in records for f in r["faces"] if bool(f["at_edge"]) == cut]
            if not mine:
                continue
            s, lab = np.array(mine).T
            by_edge[name] = {"n": len(mine), "roc_auc": (round(float(roc_auc_score(lab, s)), 4)
                                                          if 0 < lab.sum() < len(lab) else None),
                             "real_called_fake": round(float(np.mean(s[lab == 0] >= threshold)), 4),
                             "fake_called_fake": round(float(np.mean(s[lab == 1] >= threshold)), 4)}
    faces = [(max(f["box"][2], f["box"][3]), f["score"], r["label"]) for r in records for f in r["faces"]]
    by_size = {}
    for lo, hi in SIZE_BINS:
        for label, name in ((0, "real"), (1, "fake")):
            mine = [s for side, s, lab in faces if lo <= side < hi and lab == label]
            if mine:
                by_size[f"{lo}-{hi} px {name}"] = {"n": len(mine),
                                                   "called_fake": round(float(np.mean(np.array(mine) >= threshold)), 4)}
    return {"n_photos": len(records), "threshold": threshold, "rules": rules, "faces_by_size": by_size,
            "faces_by_edge": by_edge}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=Path, required=True, help="photos.jsonl of evaluate.py --detect-faces")
    p.add_argument("--threshold", type=float, default=0.62, help="the model's photo threshold")
    p.add_argument("--out", type=Path, default=None, help="write the table as JSON here too")
    args = p.parse_args(argv)
    with open(args.photos, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    result = table(records, args.threshold)
    for name, row in result["rules"].items():
        print(f"{name:24s} AUC {row['roc_auc']:.3f}  accuracy {row['accuracy']:.3f}  real photos called fake "
              f"{row['real_called_fake']:.1%}")
    for name, row in result["faces_by_size"].items():
        print(f"faces {name:20s} n={row['n']:5d}  called fake {row['called_fake']:.1%}")
    for name, row in result["faces_by_edge"].items():
        print(f"faces {name:16s} n={row['n']:5d}  AUC {row['roc_auc']}  real called fake {row['real_called_fake']:.1%}"
              f"  fake called fake {row['fake_called_fake']:.1%}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
