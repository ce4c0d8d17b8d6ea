"""Does a face cut by the photo's edge read as real? An intervention on photos whose one face the model sees whole.

    python train/edge_probe.py --model assets/models/default --photos eval/synth-val/photos.jsonl \
        --manifest data/synthetic/manifest.csv --out eval/edge.json

``photos.jsonl`` is what ``train/evaluate.py --detect-faces`` writes: every photo with its faces, their boxes, scores
and whether the square the model saw ran past the photo's edge. For each photo with exactly one face, seen whole, the
photo is cut down to the face's detector box (``--tightness`` x its longer side, centred, within the photo), as a
close-up portrait or a profile picture is framed; the pipeline's square around that face then runs past the new edge
and part of it is black fill (``detector.faces.crop_face``). The cut photo goes through ``Detector.analyze_image``
like any upload, so the face is found again. Reported per class and per source: the mean P(fake) whole -> cut, the
share called fake at the model's threshold, and the share of faces that came out cut; over all, the ROC AUC with only
the fakes cut and with only the reals cut. A model that reads the face barely moves; one that learnt "cut = real" (a
training set whose real photos are tight crops and whose fakes are not) lowers the scores of cut faces, fakes most of
all. A checkpoint with ``crop_inside`` moves the square inside the photo instead of filling it with black.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from detector.api import Detector
from detector.images import load_image


def cut_to_face(rgb: np.ndarray, box: list[int] | tuple[int, ...], tightness: float = 1.0) -> np.ndarray:
    """The part of ``rgb`` inside a square of ``tightness`` x the box's longer side, centred on the box (clipped to
    the photo): a close-up of that face, whose square at the pipeline's margin runs past the edge."""
    if tightness <= 0:
        raise ValueError(f"tightness must be > 0, got {tightness}")
    x, y, w, h = box
    cx, cy, half = x + w / 2, y + h / 2, max(w, h) * tightness / 2
    height, width = rgb.shape[:2]
    x0, y0 = max(0, int(round(cx - half))), max(0, int(round(cy - half)))
    x1, y1 = min(width, int(round(cx + half))), min(height, int(round(cy + half)))
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def read_sources(manifest: Path | None) -> dict[str, str]:
    """``file -> source`` of a manifest (paths as photos.jsonl names them: absolute, from the manifest's folder)."""
    if manifest is None:
        return {}
    with open(manifest, newline="", encoding="utf-8") as fh:
        return {str((manifest.parent / r["file"]).resolve()): r.get("source", "") for r in csv.DictReader(fh)}


def probe(detector: Detector, records: list[dict], tightness: float, sources: dict[str, str]) -> dict:
    """Each one-face photo seen whole, scored again cut to its face; summaries per class, per source and over all."""
    rows = []
    for record in records:
        faces = record["faces"]
        if len(faces) != 1 or faces[0].get("at_edge"):
            continue
        cut = detector.analyze_image(cut_to_face(load_image(record["file"]), faces[0]["box"], tightness))
        if cut.score is None:
            continue  # the close-up lost the face: nothing to compare
        rows.append({"label": int(record["label"]), "source": sources.get(str(Path(record["file"]).resolve()), ""),
                     "whole": float(faces[0]["score"]), "cut": float(cut.score),
                     "came_out_cut": all(f.at_edge for f in cut.faces)})
    if not rows:
        raise SystemExit("no photo with one face seen whole: nothing to probe")
    y = np.array([r["label"] for r in rows])
    whole, cut = np.array([r["whole"] for r in rows]), np.array([r["cut"] for r in rows])

    threshold = detector.pre.threshold

    def summary(mask: np.ndarray) -> dict:
        return {"n": int(mask.sum()), "mean_score_whole": round(float(whole[mask].mean()), 4),
                "mean_score_cut": round(float(cut[mask].mean()), 4),
                "called_fake_whole": round(float(np.mean(whole[mask] >= threshold)), 4),
                "called_fake_cut": round(float(np.mean(cut[mask] >= threshold)), 4),
                "came_out_cut": round(float(np.mean([rows[i]["came_out_cut"] for i in np.flatnonzero(mask)])), 4)}

    out: dict = {"tightness": tightness, "threshold": threshold, "n": len(rows), "per_class": {}, "per_source": {}}
    for label, name in ((0, "real"), (1, "fake")):
        if (y == label).any():
            out["per_class"][name] = summary(y == label)
    names = np.array([f"{r['source'] or '-'} ({'fake' if r['label'] else 'real'})" for r in rows])
    for name in sorted(set(names)):
        out["per_source"][name] = summary(names == name)
    if 0 < y.sum() < len(y):
        out["roc_auc"] = {variant: round(float(roc_auc_score(y, scores)), 4) for variant, scores in (
            ("whole", whole), ("fakes cut", np.where(y == 1, cut, whole)), ("reals cut", np.where(y == 0, cut, whole)),
            ("both cut", cut))}
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint folder or Hub id (default: the bundled model); the "
                                                 "photos.jsonl must come from the same model")
    p.add_argument("--photos", type=Path, required=True, help="photos.jsonl of evaluate.py --detect-faces")
    p.add_argument("--manifest", type=Path, default=None, help="the data's manifest CSV, for per-source figures")
    p.add_argument("--tightness", type=float, default=1.0, help="cut-out side / the face box's longer side")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    detector = Detector.from_pretrained(args.model)
    with open(args.photos, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    result = {"model": detector.name, "photos": str(args.photos),
              **probe(detector, records, args.tightness, read_sources(args.manifest))}
    print(json.dumps({k: v for k, v in result.items() if k != "per_source"}, indent=1))
    for name, row in result["per_source"].items():
        print(f"  {name}: {row}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
