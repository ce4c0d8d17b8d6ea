"""Average the weights of fused checkpoints fine-tuned from one parent (a "model soup").

    python train/soup.py --out runs/soup runs/step7/best runs/ft-a/best runs/ft-b/best [--weights 2 1 1]
    python train/soup.py --out runs/further runs/step7/best runs/step6 --weights 1.25 -0.25   # extrapolate
    python train/soup.py --out runs/v assets/models/default runs/step6 --weights 2 -1 --unfold 0

Fine-tunes that start from the same weights stay in one basin of the loss, and their weight average often
generalises better than any one of them (Wortsman et al., "Model soups", ICML 2022; with the parent among the
ingredients it is also the interpolation of WiSE-FT, Wortsman et al., CVPR 2022), at no cost at inference: the
result is one ordinary fusion checkpoint of the same size. Every checkpoint must have the same members, head and
input (size, scaling); the first one's preprocessing is kept (crop geometry, JPEG round trip) and its calibration
reset (average uncalibrated checkpoints, or a fine-tune with the calibrated parent it started from: calibration
folds a temperature into the head), so run
``train/calibrate.py`` and ``train/calibrate_clips.py`` on the soup next. ``--unfold I ...`` first takes the
temperature that calibration folded into the head out of the checkpoints at those positions (0 = the first), so they
enter with the weights their training made (the bundled checkpoint is calibrated; its uncalibrated run is not kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.checkpoint import read_config, resolve_checkpoint
from detector.model import FusionDetector
from train.calibrate import scale_logit
from train.fit import load_source
from train.merge import uncalibrated


def _reads(model: FusionDetector) -> tuple:
    pre = model.preprocessing
    return (pre.img_size, list(pre.mean), list(pre.std), [dict(m) for m in pre.members or []])


def soup(models: list[FusionDetector], weights: list[float] | None = None) -> FusionDetector:
    """The weighted average of ``models`` (uniform by default), as a new fusion; the inputs are left as they are.
    A negative weight extrapolates: ``[1 + a, -a]`` of a fine-tune and its parent is the fine-tune plus ``a`` times
    what the fine-tuning changed (task arithmetic). Then the parameters are combined and the BatchNorm running
    statistics taken from the first checkpoint, as a combination with a negative weight could make a variance
    negative."""
    if len(models) < 2:
        raise ValueError("a soup needs at least two checkpoints")
    weights = [1.0] * len(models) if weights is None else [float(w) for w in weights]
    if len(weights) != len(models) or weights[0] <= 0 or sum(weights) <= 0:
        raise ValueError(f"need one weight per checkpoint, the first and the sum > 0; got {weights} for "
                         f"{len(models)} checkpoints")
    first = models[0]
    for other in models[1:]:
        if (other.backbone_names, other.hidden) != (first.backbone_names, first.hidden):
            raise ValueError(f"different architectures: {first.backbone_names} (hidden {first.hidden}) against "
                             f"{other.backbone_names} (hidden {other.hidden})")
        if _reads(other) != _reads(first):
            raise ValueError("the checkpoints read different inputs (size or scaling); their weights cannot be "
                             "averaged")
    total = sum(weights)
    states = [m.state_dict() for m in models]
    parameters = {name for name, _ in first.named_parameters()}
    averaged = {}
    for key, value in states[0].items():
        if value.is_floating_point() and (key in parameters or min(weights) >= 0):
            mix = sum(w * s[key].double() for w, s in zip(weights, states)) / total
            averaged[key] = mix.to(value.dtype)
        else:  # counters (BatchNorm's num_batches_tracked), and running statistics when extrapolating: the first's
            averaged[key] = value.clone()
    result = FusionDetector(first.backbone_names, pretrained=False, hidden=first.hidden, dropout=first.dropout,
                            preprocessing=uncalibrated(first))
    result.load_state_dict(averaged, strict=True)
    return result.eval()


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="fused checkpoints with the same members and input")
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   help="one per checkpoint (default: equal); a negative one extrapolates away from that checkpoint")
    p.add_argument("--unfold", type=int, nargs="+", default=[], metavar="I",
                   help="positions (0 = first) of calibrated checkpoints whose folded temperature is taken out first")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    configs = [read_config(resolve_checkpoint(c)) for c in args.checkpoints]
    temperatures = {}
    for i in args.unfold:
        if not 0 <= i < len(configs) or "temperature" not in configs[i].get("calibration", {}):
            raise SystemExit(f"error: --unfold {i}: not the position of a calibrated checkpoint (0 to "
                             f"{len(configs) - 1}, with a calibration.temperature in its config.json)")
        temperatures[i] = float(configs[i]["calibration"]["temperature"])
    calibrated = [c for i, (c, config) in enumerate(zip(args.checkpoints, configs))
                  if "calibration" in config and i not in temperatures]
    if calibrated:  # calibrate.py folds a temperature into the head: fine when it is the parent the others left
        print(f"note: {calibrated} are calibrated (a temperature is folded into the head's last layer): combine them "
              "only with checkpoints fine-tuned from them, otherwise use the uncalibrated checkpoints they came from",
              file=sys.stderr)
    loaded = [load_source(c) for c in args.checkpoints]
    for i, t in temperatures.items():
        scale_logit(loaded[i][0], t)
    try:
        result = soup([m for m, _ in loaded], args.weights)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    weights = args.weights or [1.0] * len(args.checkpoints)
    record = {"soup": [{"checkpoint": str(c), "weight": w, "training": t,
                        **({"unfolded_temperature": temperatures[i]} if i in temperatures else {})}
                       for i, (c, w, (_, t)) in enumerate(zip(args.checkpoints, weights, loaded))]}
    parts = " + ".join(f"{w:g} x {c}" for c, w in zip(args.checkpoints, weights))
    given = f" --weights {' '.join(f'{w:g}' for w in args.weights)}" if args.weights else ""
    given += f" --unfold {' '.join(map(str, args.unfold))}" if args.unfold else ""
    card = (f"Weight average (model soup) of {parts}, normalised by the weights' sum, made by "
            f"`python train/soup.py --out {args.out} {' '.join(args.checkpoints)}{given}`. Uncalibrated until "
            "train/calibrate.py has run on it.\n")
    result.save_checkpoint(args.out, card_text=card, extra_config=record)
    print(f"soup of {len(args.checkpoints)} checkpoints -> {args.out}")
    return args.out


if __name__ == "__main__":
    main()
