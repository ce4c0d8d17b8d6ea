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

from detector.api import Detector
from detector.model import FusionDetector, read_config
from train.data import discover, limit_split, load_split


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


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="checkpoint folder")
    p.add_argument("--data", type=Path, required=True, help="manifest CSV or folder (see train/data.py)")
    p.add_argument("--split", default="val", help="split to fit T on (never the test split)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", type=Path, required=True, help="folder for the calibrated checkpoint")
    args = p.parse_args(argv)
    if args.split == "test":
        raise SystemExit("error: fit the temperature on the validation split; the test split is for the final score.")
    model = FusionDetector.from_pretrained(args.model)
    detector = Detector(model, precision="fp32")  # fp32 logits, computed the way the Detector will score
    split = limit_split(discover(args.data)[args.split], args.limit, seed=0)
    x, y, _ = load_split(split, detector.pre.img_size)
    logits = detector.logits(x).astype(np.float64)
    temperature = fit_temperature(logits, y)
    before = float(log_loss(y, 1 / (1 + np.exp(-logits)), labels=[0, 1]))
    after = float(log_loss(y, 1 / (1 + np.exp(-logits / temperature)), labels=[0, 1]))

    last = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.div_(temperature)
        last.bias.div_(temperature)
    config = read_config(args.model)
    calibration = {"temperature": round(temperature, 4), "data": str(args.data), "split": args.split, "n": int(len(y)),
                   "log_loss_before": round(before, 4), "log_loss_after": round(after, 4),
                   "command": "python train/calibrate.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    card = (f"## Calibration\n\nTemperature {temperature:.3f} fitted on {len(y)} images of the {args.split} split "
             f"(log loss {before:.4f} -> {after:.4f}): `{calibration['command']}`\n")
    extra = {k: v for k, v in config.items() if k == "training"}
    extra["calibration"] = calibration
    model.cpu().save_checkpoint(args.out, card_text=card, extra_config=extra)
    print(json.dumps(calibration))
    return calibration


if __name__ == "__main__":
    main()
