"""Evaluate a checkpoint. Every number in the README is made by this file.

    python train/evaluate.py --model assets/models/default --data ../shared/data/dfdc-faces --split test --out eval/dfdc
    python train/evaluate.py --model assets/models/default --data ../shared/data/yonsei-real-fake-faces --split all \
        --out eval/yonsei                                   # cross-dataset, no fine-tuning
    python train/evaluate.py --model assets/models/default --data ../shared/data/dfdc-videos --out eval/videos

Image datasets are face crops, scored as whole images exactly as training saw them (``--detect-faces`` instead runs
the full MediaPipe pipeline on each photo and takes its most suspicious face). A folder whose manifest lists videos
is evaluated at video level through the full pipeline (MediaPipe crops, N sampled frames, track aggregation).
Writes ``OUT/metrics.json``, ``OUT/metrics.md``, ``OUT/scores.csv``, ``OUT/roc.png`` and ``OUT/confusion.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from detector.api import Detector
from detector.errors import DetectorError
from detector.video import VIDEO_SUFFIXES
from train.data import SPLITS, Split, discover, has_splits, limit_split, load_split, sources
from train.metrics import binary_metrics, markdown_table

log = logging.getLogger("train.evaluate")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint folder or Hub repo id (default: bundled)")
    p.add_argument("--data", type=Path, required=True, help="manifest CSV or folder (see train/data.py)")
    p.add_argument("--split", choices=[*SPLITS, "all"], default="test",
                   help="which split ('all' = every image; a real|fake folder without splits is always scored whole)")
    p.add_argument("--out", type=Path, required=True, help="folder for metrics.json/.md, scores.csv, plots")
    p.add_argument("--limit", type=int, default=None, help="a class-balanced random subset of N items")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit subset")
    p.add_argument("--frames", type=int, default=32, help="frames per video (video datasets)")
    p.add_argument("--aggregation", default="mean", help="per-track aggregation (video datasets)")
    p.add_argument("--detect-faces", action="store_true", help="run face detection on each image")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the model's)")
    p.add_argument("--name", default=None, help="row name in metrics.md (default: the model's backbones)")
    return p.parse_args(argv)


def video_items(data: Path) -> Split | None:
    """``file,label`` rows of a manifest that lists videos, or None when the data is not a video set."""
    manifest = data / "manifest.csv" if data.is_dir() else data
    if not manifest.is_file():
        return None
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or Path(rows[0]["file"]).suffix.lower() not in VIDEO_SUFFIXES:
        return None
    split = Split()
    for row in rows:
        split.add(manifest.parent / row["file"], 1 if row["label"].strip().lower() in ("fake", "1") else 0)
    return split


def score_images(detector: Detector, split: Split, detect_faces: bool) -> tuple[np.ndarray, np.ndarray, list]:
    if detect_faces:
        scores, kept, files = [], [], []
        for path, label in tqdm(list(zip(split.files, split.labels)), desc="images", file=sys.stderr):
            try:
                result = detector.analyze_image(path)
                if result.score is None:  # no face: score the photo as one face, as the app offers
                    result = detector.analyze_image(path, whole_image=True)
            except DetectorError as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            scores.append(result.score)
            kept.append(label)
            files.append(path)
        return np.asarray(kept), np.asarray(scores), files
    x, y, skipped = load_split(split, detector.pre.img_size)
    if skipped:
        log.warning("%d corrupt images skipped", skipped)
    scores = np.concatenate([detector.score_crops(x[i:i + 256]) for i in tqdm(range(0, len(x), 256), desc="batches",
                                                                             file=sys.stderr)])
    files = split.files if not skipped else [None] * len(y)
    return y, scores, files


def score_videos(detector: Detector, split: Split, frames: int, aggregation: str) -> tuple[np.ndarray, np.ndarray,
                                                                                          list]:
    scores, labels, files = [], [], []
    for path, label in tqdm(list(zip(split.files, split.labels)), desc="videos", file=sys.stderr):
        try:
            result = detector.analyze_video(path, frames=frames, aggregation=aggregation)
        except DetectorError as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        # a clip without any face cannot be judged; it is counted as undecided (0.5)
        scores.append(0.5 if result.score is None else result.score)
        labels.append(label)
        files.append(path)
    return np.asarray(labels), np.asarray(scores), files


def per_source(files: list, y: np.ndarray, scores: np.ndarray, origin: dict[Path, str], threshold: float
               ) -> list[dict]:
    """One row per source (generator or camera) of the manifest's ``source`` column. A source holds one class, so
    its ROC AUC is taken against all items of the other class: a fake generator's AUC says how well its fakes are
    ranked above every real, a real source's how well its reals are ranked below every fake. Accuracy is the share
    of that source's items on the right side of the threshold."""
    from sklearn.metrics import roc_auc_score

    names = np.asarray([origin.get(Path(f), "") if f else "" for f in files])
    rows = []
    for name in sorted(set(names) - {""}):
        mine = names == name
        label = int(y[mine][0])
        if not (y[mine] == label).all():  # a source with both classes: scored on its own
            auc = roc_auc_score(y[mine], scores[mine]) if len(set(y[mine])) == 2 else None
        else:
            pool = mine | (y != label)
            auc = roc_auc_score(y[pool], scores[pool]) if (y[pool] != label).any() else None
        correct = (scores[mine] >= threshold).astype(int) == y[mine]
        rows.append({"source": name, "label": "fake" if label else "real", "n": int(mine.sum()),
                     "roc_auc": None if auc is None else round(float(auc), 4),
                     "accuracy": round(float(correct.mean()), 4), "mean_score": round(float(scores[mine].mean()), 4)})
    return rows


def source_table(rows: list[dict]) -> str:
    lines = ["| source | class | n | ROC AUC (vs the other class) | accuracy at threshold | mean P(fake) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        auc = "-" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
        lines.append(f"| {r['source']} | {r['label']} | {r['n']} | {auc} | {r['accuracy']:.4f} "
                     f"| {r['mean_score']:.4f} |")
    return "\n".join(lines)


def plots(y: np.ndarray, scores: np.ndarray, metrics: dict, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    if metrics["roc_auc"] is not None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        RocCurveDisplay.from_predictions(y, scores, ax=ax, name=title)
        ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
        fig.tight_layout()
        fig.savefig(out / "roc.png", dpi=120)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay(np.asarray(metrics["confusion_matrix"]), display_labels=["real", "fake"]).plot(ax=ax,
                                                                                                       colorbar=False)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    detector = Detector.from_pretrained(args.model)
    threshold = detector.pre.threshold if args.threshold is None else args.threshold
    videos = video_items(args.data)
    if videos is not None:
        split = limit_split(videos, args.limit, args.seed)
        y, scores, files = score_videos(detector, split, args.frames, args.aggregation)
        level = "video"
    else:
        splits = discover(args.data, seed=args.seed)
        if args.split != "all" and not has_splits(args.data):
            log.info("%s has no splits of its own (a real|fake folder): scoring all of it", args.data)
            args.split = "all"
        if args.split == "all":
            split = Split([f for s in SPLITS for f in splits[s].files], [v for s in SPLITS for v in splits[s].labels])
        else:
            split = splits[args.split]
        if not split.files:
            raise SystemExit(f"error: the {args.split!r} split of {args.data} is empty.")
        split = limit_split(split, args.limit, args.seed)
        y, scores, files = score_images(detector, split, args.detect_faces)
        level = "image (detected faces)" if args.detect_faces else "image (face crops)"
    metrics = binary_metrics(y, scores, threshold)
    origin = sources(args.data) if videos is None else {}
    if origin:
        metrics["per_source"] = per_source(files, y, scores, origin, threshold)
    name = args.name or detector.name
    metrics.update({"model": name, "checkpoint": str(args.model or "bundled default"), "data": str(args.data),
                    "precision": detector.precision,
                    "split": args.split if videos is None else "all", "level": level,
                    "command": "python train/evaluate.py " + " ".join(sys.argv[1:] if argv is None else argv)})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (args.out / "metrics.md").write_text(
        f"{level} level, {args.data} ({metrics['split']}), threshold {threshold}\n\n"
        + markdown_table([(name, metrics)]) + "\n"
        + (f"\nPer source:\n\n{source_table(metrics['per_source'])}\n" if origin else ""))
    with open(args.out / "scores.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "score"])
        for f, label, s in zip(files, y, scores):
            writer.writerow([f or "", int(label), f"{float(s):.6f}"])
    plots(y, scores, metrics, args.out, name)
    print(f"{level} level, {args.data}, split {metrics['split']}, {metrics['n']} items, threshold {threshold}")
    print(markdown_table([(name, metrics)]))
    if origin:
        print(source_table(metrics["per_source"]))
    return metrics


if __name__ == "__main__":
    main()
