"""Temperature scaling: make a checkpoint's P(fake) honest without changing its ranking or its decisions.

    python train/calibrate.py --model runs/stack-head/best --data ../shared/data/dfdc-faces --split val \
        --out runs/calibrated

A model trained until it fits its training set is over-confident: its scores sit near 0 and 1 even where it is
often wrong. One temperature T, fitted on the validation split by minimising the log loss, turns P = sigmoid(z) into
P = sigmoid(z / T). It is folded into the last layer of the head (weights and bias divided by T), so the checkpoint
format and every consumer stay unchanged. ROC AUC and every decision at threshold 0.5 are unchanged (z / T has the
sign and order of z); the log loss and the meaning of a score improve. The fit is recorded in ``config.json``
(``calibration``) and the model card.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import log_loss

from detector.checkpoint import read_config
from detector.model import FusionDetector
from detector.runtime import Runtime
from train.data import discover_many, limit_split, load_split
from train.video_model import refuse_two_models


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the binary log loss of sigmoid(logits / T) (a 1-D convex problem in log T)."""
    z = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.float64)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def best_accuracy_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The threshold (rounded to 0.01, strictly inside (0, 1)) with the highest accuracy on these items."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=np.float64)
    candidates = np.round(np.arange(0.05, 0.951, 0.01), 2)
    accuracy = [np.mean((scores >= t) == labels) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def uncertain_band(labels: np.ndarray, scores: np.ndarray, threshold: float, precision: float) -> tuple[float, float]:
    """``[lo, hi)`` around the threshold outside which verdicts are right at least ``precision`` of the time on
    these (validation) items: among scores >= hi at least that share is fake, among scores < lo that share is real.
    Where no such bound exists the band reaches 0 or 1 (every verdict on that side is then "uncertain")."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores)
    s, y = scores[order], labels[order]
    n = len(s)
    # hi: the lowest candidate >= threshold with precision(fake | score >= hi) >= precision
    hi = 1.0
    fakes_above = np.cumsum(y[::-1])[::-1]  # fakes among s[i:]
    for i in range(n):
        if s[i] >= threshold and fakes_above[i] / (n - i) >= precision:
            hi = float(s[i])
            break
    # lo: the highest candidate <= threshold with precision(real | score < lo) >= precision
    lo = 0.0
    reals_below = np.concatenate([[0], np.cumsum(1 - y)])  # reals among s[:i]
    for i in range(n, 0, -1):
        if s[i - 1] < threshold and reals_below[i] / i >= precision:
            lo = float(np.nextafter(s[i - 1], 1.0))  # s[i-1] itself is below lo
            break
    return round(min(lo, threshold), 4), round(max(hi, threshold), 4)


def scale_logit(model: FusionDetector, factor: float) -> None:
    """Multiply the fusion's logit by ``factor``, in the head's last layer: ``1 / T`` folds a temperature in (what
    calibration stores), ``T`` takes it out again (the weights training made, e.g. for ``train/soup.py --unfold``)."""
    last = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(factor)
        last.bias.mul_(factor)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="checkpoint folder")
    p.add_argument("--data", type=Path, nargs="+", required=True,
                   help="manifest CSV or folder (see train/data.py); several are pooled, as in training")
    p.add_argument("--split", default="val", help="split to fit T on (never the test split)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", type=Path, required=True, help="folder for the calibrated checkpoint")
    p.add_argument("--choose-threshold", action="store_true",
                   help="also move the decision threshold to the one with the best accuracy on the split")
    p.add_argument("--band-precision", type=float, default=0.95,
                   help="verdicts outside the uncertain band must be right this often on the split (0: no band)")
    p.add_argument("--jpeg-quality", type=int, default=None, metavar="Q",
                   help="score (and store in the calibrated checkpoint) a JPEG round trip of each crop at quality Q "
                        "before scoring, preprocessing.jpeg_quality (0: none; default: the checkpoint's)")
    args = p.parse_args(argv)
    if args.jpeg_quality is not None and not 0 <= args.jpeg_quality <= 100:
        raise SystemExit(f"error: --jpeg-quality must be between 0 and 100, got {args.jpeg_quality}.")
    if args.split == "test":
        raise SystemExit("error: fit the temperature on the validation split; the test split is for the final score.")
    refuse_two_models(args.model)
    model = FusionDetector.from_pretrained(args.model)
    if args.jpeg_quality is not None:  # before the Runtime: it reads the same preprocessing object
        model.preprocessing.jpeg_quality = args.jpeg_quality or None
    runtime = Runtime(model, precision="fp32")  # fp32 logits, on the Detector's inference runtime
    split = limit_split(discover_many(args.data)[args.split], args.limit, seed=0)
    x, y, _ = load_split(split, runtime.pre.img_size)
    logits = runtime.logits(x).astype(np.float64)
    temperature = fit_temperature(logits, y)
    before = float(log_loss(y, 1 / (1 + np.exp(-logits)), labels=[0, 1]))
    after = float(log_loss(y, 1 / (1 + np.exp(-logits / temperature)), labels=[0, 1]))

    scale_logit(model, 1.0 / temperature)
    calibrated = 1 / (1 + np.exp(-logits / temperature))
    threshold_before = model.preprocessing.threshold
    if args.choose_threshold:
        model.preprocessing.threshold = best_accuracy_threshold(y, calibrated)
    band = None
    if args.band_precision > 0:
        band = uncertain_band(y, calibrated, model.preprocessing.threshold, args.band_precision)
        model.preprocessing.uncertain_band = band
        inside = float(np.mean((calibrated >= band[0]) & (calibrated < band[1])))
    config = read_config(args.model)
    calibration = {"temperature": round(temperature, 4), "data": " + ".join(map(str, args.data)), "split": args.split,
                   "n": int(len(y)), "threshold_before": threshold_before,
                   "accuracy_at_threshold": round(float(np.mean((calibrated >= model.preprocessing.threshold) == y)),
                                                  4),
                   "band_precision": args.band_precision if band else None,
                   "share_uncertain": round(inside, 4) if band else None,
                   "log_loss_before": round(before, 4), "log_loss_after": round(after, 4),
                   "command": "python train/calibrate.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    card = (f"## Calibration\n\nTemperature {temperature:.3f} fitted on {len(y)} images of the {args.split} split "
             f"(log loss {before:.4f} -> {after:.4f}): `{calibration['command']}`\n")
    if args.choose_threshold:
        card += (f"\nDecision threshold {model.preprocessing.threshold} (was {threshold_before}): the best accuracy "
                 f"on that split ({calibration['accuracy_at_threshold']:.4f}).\n")
    if band:
        card += (f"\nUncertain band [{band[0]}, {band[1]}): outside it, verdicts were right at least "
                 f"{args.band_precision:.0%} of the time on that split; {inside:.1%} of its images fell inside.\n")
    # how the weights were made: a training run, or a checkpoint combined from others (merge.py, soup.py)
    extra = {k: v for k, v in config.items() if k in ("training", "weights_via", "merged", "soup")}
    # the chosen threshold and band live once, in preprocessing (the decision every reader uses); the calibration
    # record keeps how they were chosen
    extra["calibration"] = calibration
    model.cpu().save_checkpoint(args.out, card_text=card, extra_config=extra)
    chosen = {**calibration, "threshold": model.preprocessing.threshold, "uncertain_band": list(band) if band else None}
    print(json.dumps(chosen))
    return chosen


if __name__ == "__main__":
    main()
