"""Clip-level calibration: how a person's frame scores become one score, and the threshold and uncertain band for
clips, chosen on validation clips and stored in the checkpoint apart from the per-face calibration.

    python train/evaluate.py --model runs/x/best --data /data/videos --split val --out eval/clips-val
    python train/calibrate_clips.py --model runs/x/best --clips eval/clips-val/clips.jsonl --out runs/x-clips

``clips.jsonl`` (written by ``evaluate.py`` on a video set) holds each clip's persons with their per-frame scores,
so every aggregation is compared without decoding a frame again. The aggregation with the best clip ROC AUC wins if
it beats ``mean`` (the simplest, and the least sensitive to one odd frame) by at least ``--min-gain`` (0.05: a few
dozen validation clips cannot tell smaller differences apart); otherwise ``mean`` stays. The threshold is the one
with the best balanced accuracy among those that call at most ``--max-false-fake`` of the real clips fake; the band
is the one of ``train/calibrate.py`` at ``--band-precision``. A clip's score is its most suspicious person's, as in
``Detector.analyze_video``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from detector.checkpoint import read_config
from detector.limits import AGGREGATIONS
from detector.model import FusionDetector, split_config
from detector.video import aggregate
from train.calibrate import uncertain_band
from train.video_model import refuse_two_models


def read_clips(path: Path) -> list[dict]:
    clips = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not clips:
        raise SystemExit(f"error: {path} holds no clip.")
    return clips


def clip_scores(clips: list[dict], rule: str, fallback: float) -> np.ndarray:
    """Each clip's score under ``rule``: its most suspicious person's aggregate; ``fallback`` for a faceless clip."""
    return np.asarray([max((aggregate(t["scores"], rule) for t in c["tracks"]), default=fallback) for c in clips])


def choose_threshold(labels: np.ndarray, scores: np.ndarray, max_false_fake: float) -> float:
    """The threshold (0.01 steps) with the best balanced accuracy among those calling at most ``max_false_fake`` of
    the real clips fake (the lowest such threshold when none is allowed that often)."""
    candidates = np.round(np.arange(0.02, 0.981, 0.01), 2)
    real, fake = scores[labels == 0], scores[labels == 1]
    best, best_value = None, -1.0
    for t in candidates:
        false_fake = float(np.mean(real >= t)) if len(real) else 0.0
        if false_fake > max_false_fake:
            continue
        value = 0.5 * ((float(np.mean(fake >= t)) if len(fake) else 1.0) + 1.0 - false_fake)
        if value > best_value:
            best, best_value = float(t), value
    return best if best is not None else float(candidates[-1])


def calibrate(clips: list[dict], per_face_threshold: float, max_false_fake: float, band_precision: float,
              min_gain: float = 0.05) -> dict:
    labels = np.asarray([int(c["label"]) for c in clips])
    if len(set(labels)) < 2:
        raise SystemExit("error: the clips need both real and fake ones to calibrate.")
    table = {}
    for rule in AGGREGATIONS:
        scores = clip_scores(clips, rule, per_face_threshold)
        table[rule] = round(float(roc_auc_score(labels, scores)), 4)
    best = max(table, key=table.get)
    rule = best if table[best] >= table["mean"] + min_gain else "mean"
    scores = clip_scores(clips, rule, per_face_threshold)
    threshold = choose_threshold(labels, scores, max_false_fake)
    band = uncertain_band(labels, scores, threshold, band_precision) if band_precision > 0 else None
    fake_called = float(np.mean(scores[labels == 1] >= threshold))
    real_called = float(np.mean(scores[labels == 0] >= threshold))
    return {"aggregation": rule, "auc_by_aggregation": table, "threshold": threshold,
            "uncertain_band": None if band is None else list(band), "n_clips": int(len(clips)),
            "fake_clips_called_fake": round(fake_called, 4), "real_clips_called_fake": round(real_called, 4)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="checkpoint folder the clips were scored with")
    p.add_argument("--clips", type=Path, nargs="+", required=True, help="clips.jsonl of evaluate.py (val clips)")
    p.add_argument("--out", type=Path, required=True, help="folder for the checkpoint with clip calibration")
    p.add_argument("--max-false-fake", type=float, default=0.1, help="share of real clips the threshold may call fake")
    p.add_argument("--min-gain", type=float, default=0.05,
                   help="clip ROC AUC another aggregation must gain over mean to be chosen instead")
    p.add_argument("--band-precision", type=float, default=0.9,
                   help="clip verdicts outside the uncertain band must be right this often (0: no band)")
    args = p.parse_args(argv)
    refuse_two_models(args.model)
    clips = [c for path in args.clips for c in read_clips(path)]
    model = FusionDetector.from_pretrained(args.model)
    result = calibrate(clips, model.preprocessing.threshold, args.max_false_fake, args.band_precision, args.min_gain)
    model.preprocessing = replace(model.preprocessing, video_aggregation=result["aggregation"],
                                  video_threshold=result["threshold"],
                                  video_uncertain_band=result["uncertain_band"])
    _, extra = split_config(read_config(args.model))  # training, calibration, scope...: all kept
    extra.pop("weights_sha256", None)
    # the chosen rule, threshold and band live once, in preprocessing; the record keeps how they were chosen
    record = {k: v for k, v in result.items() if k not in ("aggregation", "threshold", "uncertain_band")}
    extra["clip_calibration"] = {**record, "clips": [str(p) for p in args.clips],
                                 "command": "python train/calibrate_clips.py " + " ".join(sys.argv[1:] if argv is None
                                                                                        else argv)}
    card = (f"## Clip calibration\n\nChosen on {result['n_clips']} validation clips: aggregation "
            f"`{result['aggregation']}` (clip ROC AUC by rule: {result['auc_by_aggregation']}), clip threshold "
            f"{result['threshold']}, uncertain band {result['uncertain_band']}.\n")
    model.save_checkpoint(args.out, card_text=card, extra_config=extra)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
