"""Would adding a second model's verdict help the clips? Blend two models' per-frame scores without decoding again.

    python train/evaluate.py --model runs/fusion --data /data/videos --split val --out eval/a
    python train/evaluate.py --model runs/expert --data /data/videos --split val --out eval/b
    python train/clip_blend.py eval/a/clips.jsonl eval/b/clips.jsonl --temperature-b 18.6 \\
        --weights 0 0.05 0.3 1 --manifest /data/videos/manifest.csv --json eval/blend.json

Both ``clips.jsonl`` come from ``evaluate.py`` on the same clips; the faces found and tracked do not depend on the
model, so the two files hold the same persons with the same frames, and this is checked. For each weight ``w``, every
frame's logit becomes ``logit(p_a) + w * T_b * logit(p_b)``: what ``train/merge.py --weight w`` would make of A and
B's *uncalibrated* logit when B was calibrated at temperature ``T_b`` (``--temperature-b``, read from B's
``config.json``; 1 when B's scores are raw). Each person's blended frame scores are then combined as the clips are
(``--aggregation``, the most suspicious person deciding) and scored: clip ROC AUC, and per kind of fake (from
``--manifest``'s ``kind`` column) the chance that a clip of that kind scores above a real clip. The blend is made
before any new calibration, which a merged checkpoint would get; a temperature keeps each frame's ranking but moves
the mean of a person's frames a little, so the merged checkpoint's own figure can differ in the third decimal.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from detector.limits import AGGREGATIONS
from train.calibrate_clips import clip_scores, read_clips
from train.data import sources
from train.evaluate import per_source


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def blend(a: list[dict], b: list[dict], weight: float, temperature_b: float = 1.0) -> list[dict]:
    """A's clips with each frame's score replaced by the blend of A's and B's (see the module's docstring)."""
    by_file = {c["file"]: c for c in b}
    out = []
    for clip in a:
        other = by_file.get(clip["file"])
        if other is None:
            raise ValueError(f"{clip['file']} is not in the second file")
        if len(other["tracks"]) != len(clip["tracks"]) or any(
                len(s["scores"]) != len(t["scores"]) for s, t in zip(clip["tracks"], other["tracks"])):
            raise ValueError(f"{clip['file']}: the two files tracked different persons or frames; score both models "
                             "on the same clips with the same frame count")
        tracks = []
        for mine, theirs in zip(clip["tracks"], other["tracks"]):
            z = _logit(mine["scores"]) + weight * temperature_b * _logit(theirs["scores"])
            tracks.append({**mine, "scores": (1 / (1 + np.exp(-z))).tolist()})
        out.append({**clip, "tracks": tracks})
    return out


def fake_kinds(clips: list[dict], labels: np.ndarray, scores: np.ndarray, origin: dict[Path, str]) -> dict[str, float]:
    """Per kind of fake clip, its ROC AUC against every real clip (evaluate.py's per-source rows)."""
    rows = per_source([c["file"] for c in clips], labels, scores, origin, threshold=0.5)
    return {f"{r['source']} ({r['n']})": r["roc_auc"] for r in rows if r["label"] == "fake"}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path, help="clips.jsonl of the first model (evaluate.py on a video set)")
    p.add_argument("b", type=Path, help="clips.jsonl of the second model, on the same clips")
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0])
    p.add_argument("--temperature-b", type=float, default=1.0,
                   help="the temperature B's scores were calibrated at (its config's calibration.temperature)")
    p.add_argument("--aggregation", choices=AGGREGATIONS, default="mean")
    p.add_argument("--manifest", type=Path, default=None, help="video manifest with a kind column: per-kind figures")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    a, b = read_clips(args.a), read_clips(args.b)
    labels = np.asarray([int(c["label"]) for c in a])
    if len(set(labels)) < 2:
        raise SystemExit("error: the clips hold one class only; a ROC AUC needs both.")
    kinds = sources(args.manifest) if args.manifest else None
    result = {"a": str(args.a), "b": str(args.b), "temperature_b": args.temperature_b,
              "aggregation": args.aggregation, "n_clips": len(a), "by_weight": {}}
    for weight in args.weights:
        try:
            clips = blend(a, b, weight, args.temperature_b)
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from exc
        scores = clip_scores(clips, args.aggregation, fallback=0.0)
        row = {"clip_roc_auc": round(float(roc_auc_score(labels, scores)), 4)}
        if kinds is not None:
            row["by_kind"] = fake_kinds(a, labels, scores, kinds)
        result["by_weight"][str(weight)] = row
        print(f"w={weight}: clip ROC AUC {row['clip_roc_auc']}" + (f"  {row['by_kind']}" if kinds else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
