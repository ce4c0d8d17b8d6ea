"""Does a member that reads the face at a finer scale see generators better? A patch member against the whole face.

    python train/pack.py --data /data/synthetic --out packs/syn256 --detect-faces --size 256 --format jpeg \
        --quality 60-95 --count train=4000 val=all
    python train/patches.py --data packs/syn256 --out runs/patches

Both members are EfficientNet-Lite0 from ImageNet with a 128 px input, trained the same way (epochs of class- and
source-balanced draws, Adam, step decay) on the same face crops of the same pack, which the face pipeline made at
``S`` px (``S`` = 256: twice the app's 128):

- ``whole``: the crop downscaled to 128 px (area averaging, as the app's pipeline does), light augmentation; what
  the bundled members see;
- ``patch``: random 128 px windows of the ``S`` px crop, never resized (flips and brightness/contrast only), so the
  fine detail where a generator's traces live is kept; a face's score is the mean logit of a grid of windows that
  covers the crop.

``OUT/patches.json``: validation ROC AUC of each, pooled and per fake source against all validation reals, the
paired bootstrap of patch minus whole, and each member's speed on this machine (faces/s, PyTorch, batch 32).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader, WeightedRandomSampler
from torchvision.transforms import v2

from detector.model import FusionDetector
from train.data import ArrayDataset, balanced_weights, discover_many, light_transform, load_split, source_of
from train.evaluate import per_source
from train.metrics import paired_bootstrap_auc

log = logging.getLogger("patches")
INPUT = 128


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a pack of face crops at S px (train and val splits)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=256, help="S: the crops' size in the pack")
    p.add_argument("--views", nargs="+", default=["whole", "patch"], choices=["whole", "patch"])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--epoch-size", type=int, default=6000)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--score", type=Path, nargs="+", default=[], metavar="PACK",
                   help="packs at S px whose test split each trained view also scores (a held-out pair: its ROC AUC "
                        "and each source's mean P(fake)); never used to choose an epoch")
    return p.parse_args(argv)


def downscale(x: np.ndarray, size: int = INPUT) -> np.ndarray:
    return np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) for img in x])


def patch_transform(size: int = INPUT) -> v2.Compose:
    """A random window at the crop's own resolution; nothing that resamples the pixels."""
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomCrop(size),
        v2.ToDtype(torch.float32, scale=True),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
    ])


def windows(side: int, size: int = INPUT) -> list[int]:
    """Offsets of windows of ``size`` that cover ``side`` pixels (first and last flush with the edges)."""
    n = max(1, int(np.ceil(side / size)))
    return sorted({round(float(v)) for v in np.linspace(0, side - size, n)}) if n > 1 else [0]


@torch.no_grad()
def logits(model: FusionDetector, x: np.ndarray, view: str, batch: int = 64) -> np.ndarray:
    """Each face's logit: the whole face downscaled, or the mean over a grid of windows of the full-size crop."""
    model.eval()
    if view == "whole":
        x = downscale(x)
        grid = [(0, 0)]
    else:
        offsets = windows(x.shape[1])
        grid = [(r, c) for r in offsets for c in offsets]
    out = np.zeros(len(x))
    for r, c in grid:
        part = np.ascontiguousarray(x[:, r:r + INPUT, c:c + INPUT])
        for i in range(0, len(part), batch):
            t = torch.from_numpy(part[i:i + batch]).permute(0, 3, 1, 2).float() / 255.0
            out[i:i + batch] += model(t).squeeze(1).numpy()
    return out / len(grid)


def train_view(view: str, x: np.ndarray, y: np.ndarray, weights: np.ndarray, x_val: np.ndarray,
               y_val: np.ndarray, args: argparse.Namespace) -> tuple[FusionDetector, list[dict]]:
    torch.manual_seed(args.seed)
    model = FusionDetector(["efficientnet_lite0"], pretrained=True, preprocessing={"img_size": INPUT})
    data = ArrayDataset(downscale(x) if view == "whole" else x, y,
                        light_transform(INPUT) if view == "whole" else patch_transform())
    sampler = WeightedRandomSampler(torch.as_tensor(weights), args.epoch_size, replacement=True,
                                    generator=torch.Generator().manual_seed(args.seed))
    loader = DataLoader(data, batch_size=args.batch_size, sampler=sampler, num_workers=1)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.6)
    best, best_state, history = -1.0, None, []
    for epoch in range(1, args.epochs + 1):
        model.train()
        start, losses = time.time(), []
        for xb, yb in loader:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xb).squeeze(1), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
        auc = float(roc_auc_score(y_val, logits(model, x_val, view)))
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_auc": round(auc, 4),
                        "seconds": round(time.time() - start, 1)})
        log.info("%s %s", view, history[-1])
        if auc > best:
            best, best_state = auc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model, history


def fake_sources(files: list[Path], y: np.ndarray, scores: np.ndarray, origin: dict[Path, str]) -> dict[str, float]:
    """Each fake source's ROC AUC against all reals (evaluate.py's per-source rows)."""
    return {r["source"]: r["roc_auc"] for r in per_source(files, y, scores, origin, 0.0) if r["label"] == "fake"}


def load_held_out(pack: Path, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test split of ``pack`` (faces, labels, each face's source), read once for every view to score."""
    split = discover_many([pack])["test"]
    origin = source_of([pack])
    x, y, _ = load_split(split, size, desc=f"score {pack.name}")
    return x, y, np.asarray([origin.get(f, "") for f in split.files])


def held_out(model: FusionDetector, view: str, x: np.ndarray, y: np.ndarray, names: np.ndarray) -> dict:
    """A held-out set scored by a trained view: ROC AUC and each source's mean P(fake)."""
    p = 1.0 / (1.0 + np.exp(-logits(model, x, view)))
    return {"n": len(y), "roc_auc": round(float(roc_auc_score(y, p)), 4),
            "mean_p_fake": {s: round(float(p[names == s].mean()), 4) for s in sorted(set(names))}}


def rounded(figures: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}


def speed(model: FusionDetector, view: str, size: int) -> float:
    x = np.random.default_rng(0).integers(0, 255, (32, size, size, 3), dtype=np.uint8)
    logits(model, x[:4], view)
    start = time.perf_counter()
    logits(model, x, view, batch=32)
    return round(32 / (time.perf_counter() - start), 1)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    splits = discover_many([args.data])
    origin = source_of([args.data])
    x, y, _ = load_split(splits["train"], args.size, desc="train")
    x_val, y_val, _ = load_split(splits["val"], args.size, desc="val")
    if len(x) != len(splits["train"].files) or len(x_val) != len(splits["val"].files):
        raise SystemExit("error: unreadable files in the pack; repack it.")
    weights = balanced_weights(splits["train"].files, y, origin)
    val_origin = [origin.get(f, "") for f in splits["val"].files]
    result: dict = {"data": str(args.data), "size": args.size, "input": INPUT, "train": len(y),
                    "val": len(y_val), "views": {}}
    scored = {str(p): load_held_out(p, args.size) for p in args.score}
    scores = {}
    for view in args.views:
        model, history = train_view(view, x, y, weights, x_val, y_val, args)
        scores[view] = logits(model, x_val, view)
        result["views"][view] = {"history": history, "val_roc_auc": round(float(roc_auc_score(y_val, scores[view])), 4),
                                 "per_source": fake_sources(splits["val"].files, y_val, scores[view], origin),
                                 "faces_per_s": speed(model, view, args.size),
                                 "held_out": {name: held_out(model, view, *data) for name, data in scored.items()}}
    if {"whole", "patch"} <= set(scores):
        result["patch_minus_whole"] = rounded(paired_bootstrap_auc(y_val, scores["patch"], scores["whole"]))
        for source in result["views"]["patch"]["per_source"]:
            pick = (y_val == 0) | (np.asarray(val_origin) == source)
            diff = paired_bootstrap_auc(y_val[pick], scores["patch"][pick], scores["whole"][pick])
            result.setdefault("patch_minus_whole_per_source", {})[source] = rounded(diff)
    (args.out / "patches.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
