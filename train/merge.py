"""Merge two fused checkpoints into one fusion whose logit is the first's plus a weighted second's.

    python train/merge.py --fusion runs/step7/best --expert runs/sbi-lite1/best --weight 0.5 --out runs/merged

The result is an ordinary fusion checkpoint (the report's architecture: every member's pooled features
concatenated -> Dense -> ReLU -> Dropout -> 1): its members are the first checkpoint's followed by the second's, and
its hidden layer is both heads' hidden layers side by side, each reading only its own members' features (the rest of
the first layer is zero). So, with dropout off as at inference,

    logit(merged) = logit(fusion) + weight * logit(expert)

exactly, and everything that reads a checkpoint (the app, Grad-CAM per member, ONNX export, the private page) works
unchanged. Why: a head fitted on faces its members already separate ignores a new member that generalises better
(README, "A third member that knows only self-blended faces?"); adding the expert's own verdict in logit space keeps
what each one knows. The merged logit is uncalibrated: run ``train/calibrate.py`` and ``train/calibrate_clips.py``
on it next. The first checkpoint's preprocessing (crop geometry, input size, JPEG round trip) is kept; both must
read the same input size and scaling.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from detector.model import FusionDetector
from train.fit import load_source


def uncalibrated(fusion: FusionDetector) -> dict:
    """A fusion's preprocessing as a dict, without its per-face and per-clip calibration (threshold and bands): what
    a checkpoint made from others starts with, since its logit needs its own calibration."""
    pre = fusion.preprocessing.to_dict()
    pre["threshold"], pre["uncertain_band"] = 0.5, None
    pre["video_threshold"], pre["video_uncertain_band"] = None, None
    return pre


def merge(fusion: FusionDetector, expert: FusionDetector, weight: float) -> FusionDetector:
    """The merged fusion (see the module's docstring); the inputs are left as they are."""
    if weight <= 0:
        raise ValueError(f"weight must be > 0, got {weight}")
    shared = sorted(set(fusion.backbone_names) & set(expert.backbone_names))
    if shared:
        raise ValueError(f"both checkpoints have {shared}; a fusion's members must be distinct")
    a, b = fusion.preprocessing, expert.preprocessing
    if (a.img_size, list(a.mean), list(a.std)) != (b.img_size, list(b.mean), list(b.std)):
        raise ValueError(f"the checkpoints read different inputs: {a.img_size} px, mean {a.mean}, std {a.std} "
                         f"against {b.img_size} px, mean {b.mean}, std {b.std}")
    pre = uncalibrated(fusion)
    pre["members"] = list(a.members) + list(b.members)
    merged = FusionDetector(fusion.backbone_names + expert.backbone_names, pretrained=False,
                            hidden=fusion.hidden + expert.hidden, dropout=fusion.dropout, preprocessing=pre)
    for target, source in zip(merged.backbones, list(fusion.backbones) + list(expert.backbones)):
        target.load_state_dict(source.state_dict(), strict=True)
    first_a, last_a = fusion.head[0], fusion.head[3]
    first_b, last_b = expert.head[0], expert.head[3]
    with torch.no_grad():
        first, last = merged.head[0], merged.head[3]
        first.weight.zero_()
        first.weight[:fusion.hidden, :first_a.in_features] = first_a.weight
        first.weight[fusion.hidden:, first_a.in_features:] = first_b.weight
        first.bias.copy_(torch.cat([first_a.bias, first_b.bias]))
        last.weight.copy_(torch.cat([last_a.weight, weight * last_b.weight], dim=1))
        last.bias.copy_(last_a.bias + weight * last_b.bias)
    return merged.eval()


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fusion", required=True, help="checkpoint whose members come first and whose preprocessing "
                                                   "is kept")
    p.add_argument("--expert", required=True, help="checkpoint whose logit is added")
    p.add_argument("--weight", type=float, default=1.0, help="weight of the expert's logit")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    fusion, fusion_training = load_source(args.fusion)
    expert, expert_training = load_source(args.expert)
    try:
        merged = merge(fusion, expert, args.weight)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    record = {"merged": {"fusion": str(args.fusion), "expert": str(args.expert), "weight": args.weight,
                         "fusion_training": fusion_training, "expert_training": expert_training}}
    card = (f"Merged fusion: logit = logit({args.fusion}) + {args.weight} x logit({args.expert}), made by "
            f"`python train/merge.py --fusion {args.fusion} --expert {args.expert} --weight {args.weight}`. "
            "Uncalibrated until train/calibrate.py has run on it.\n")
    merged.save_checkpoint(args.out, card_text=card, extra_config=record)
    print(f"merged {fusion.name} + {args.weight} x {expert.name} -> {args.out}")
    return args.out


if __name__ == "__main__":
    main()
