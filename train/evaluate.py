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
    p.add_argument("--frames", type=int, default=None, help="frames per video (default: the model's)")
    p.add_argument("--aggregation", default=None, help="per-person aggregation (default: the model's)")
    p.add_argument("--crop-margin", type=float, default=None,
                   help="with --detect-faces: crop margin instead of the model's (loose vs tight crops)")
    p.add_argument("--detect-faces", action="store_true", help="run face detection on each image")
    p.add_argument("--jpeg-quality", type=int, default=None, metavar="Q",
                   help="JPEG round trip of each crop at quality Q before scoring, instead of the model's "
                        "preprocessing.jpeg_quality (0: none)")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the model's)")
    p.add_argument("--name", default=None, help="row name in metrics.md (default: the model's backbones)")
    return p.parse_args(argv)


def video_items(data: Path, split: str = "all") -> Split | None:
    """``file,label`` rows of a manifest that lists videos (only ``split``'s rows, unless "all"), or None when the
    data is not a video set."""
    manifest = data / "manifest.csv" if data.is_dir() else data
    if not manifest.is_file():
        return None
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or Path(rows[0]["file"]).suffix.lower() not in VIDEO_SUFFIXES:
        return None
    chosen = Split()
    for row in rows:
        if split != "all" and (row.get("split") or "test").strip().lower() != split:
            continue
        chosen.add(manifest.parent / row["file"], 1 if row["label"].strip().lower() in ("fake", "1") else 0)
    return chosen


def score_images(detector: Detector, split: Split, detect_faces: bool, crop_margin: float | None = None,
                 threshold: float | None = None, out: Path | None = None
                 ) -> tuple[np.ndarray, np.ndarray, list, list[str]]:
    """Scores, labels, files and the verdicts a user would get (``detector.decision(threshold)``, the rule the app
    labels by). ``detect_faces``: each photo through the app's face pipeline (its most suspicious face among those
    that decide, ``detector.results.deciding_faces``; a photo without a face is scored whole, as the app offers)."""
    decision = detector.decision(threshold)
    if detect_faces:
        scores, kept, files, verdicts = [], [], [], []
        # every photo's faces (box, detector confidence, score) go to OUT/photos.jsonl, from which
        # train/calibrate_photos.py chooses which faces may decide a photo's verdict without scoring anything again
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        records = open(out / "photos.jsonl", "w", encoding="utf-8") if out is not None else None
        for path, label in tqdm(list(zip(split.files, split.labels)), desc="images", file=sys.stderr):
            try:
                result = detector.analyze_image(path, crop_margin=crop_margin, threshold=threshold)
                found = result.faces
                if result.score is None:  # no face: score the photo as one face, as the app offers
                    result = detector.analyze_image(path, whole_image=True, threshold=threshold)
            except DetectorError as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            scores.append(result.score)
            kept.append(label)
            files.append(path)
            verdicts.append(result.label)
            if records is not None:
                records.write(json.dumps({"file": str(path), "label": int(label), "width": result.width,
                                          "height": result.height, "whole_image_score": result.score if not found
                                          else None, "faces": [{"box": f.box, "confidence": round(
                                              f.detector_confidence, 4), "score": f.score, "at_edge": f.at_edge}
                                              for f in found]}) + "\n")
        if records is not None:
            records.close()
        return np.asarray(kept), np.asarray(scores), files, verdicts
    x, y, skipped = load_split(split, detector.pre.img_size)
    if skipped:
        log.warning("%d corrupt images skipped", skipped)
    scores = np.concatenate([detector.score_crops(x[i:i + 256]) for i in tqdm(range(0, len(x), 256), desc="batches",
                                                                             file=sys.stderr)])
    files = split.files if not skipped else [None] * len(y)
    return y, scores, files, [decision.label(float(v)) for v in scores]


def score_videos(detector: Detector, split: Split, frames: int | None, aggregation: str | None, out: Path,
                 threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, list, list[str]]:
    """Clip-level scores through ``Detector.analyze_video``, exactly as the app and the CLI score a clip. Each clip's
    persons (per-frame scores, detector confidences) go to ``OUT/clips.jsonl``, from which
    ``train/calibrate_clips.py`` chooses the aggregation and the clip threshold without decoding anything again."""
    scores, labels, files, verdicts = [], [], [], []
    decision = detector.video.decision(threshold, clip=True)  # the model for videos' own, when it has one
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "clips.jsonl", "w", encoding="utf-8") as fh:
        for path, label in tqdm(list(zip(split.files, split.labels)), desc="videos", file=sys.stderr):
            try:
                result = detector.analyze_video(path, frames=frames, aggregation=aggregation, threshold=threshold)
            except DetectorError as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            # a clip without any face cannot be judged: it ranks at the clip decision's threshold (neither side) and
            # its verdict is "no face", which counts as wrong for either true label
            scores.append(decision.threshold if result.score is None else result.score)
            labels.append(label)
            files.append(path)
            verdicts.append(result.label)
            fh.write(json.dumps({"file": str(path), "label": int(label), "score": result.score,
                                 "verdict": result.label, "frames_sampled": len(result.frames),
                                 "tracks_dropped": result.tracks_dropped, "all_tracks": track_facts(result),
                                 "tracks": [{"scores": t.scores, "confidences": t.confidences,
                                             "sizes": [b[2] for b in t.boxes]} for t in result.tracks]}) + "\n")
    return np.asarray(labels), np.asarray(scores), files, verdicts


def track_facts(result: object) -> list[dict]:
    """Every face track of a clip, person or not (frames seen, mean detector confidence, median face size): what the
    person rule (``detector.video.is_person``) is measured on."""
    from detector.video import is_person, link_tracks

    tracks = link_tracks(result.frames)
    longest = max((len(t.scores) for t in tracks), default=0)
    return [{"frames": len(t.scores), "confidence": round(float(np.mean(t.confidences)), 3),
             "size": int(np.median([b[2] for b in t.boxes])), "mean_score": round(float(np.mean(t.scores)), 4),
             "person": is_person(t, len(result.frames), longest)} for t in tracks]


def verdict_shares(y: np.ndarray, verdicts: list[str]) -> dict[str, dict[str, float]]:
    """The share of items given each verdict (fake / uncertain / real / no face), per true label: what a user sees."""
    shares = {}
    for value, name in ((1, "fake"), (0, "real")):
        mine = [v for v, t in zip(verdicts, y) if t == value]
        shares[name] = {v: round(mine.count(v) / len(mine), 4) for v in ("fake", "uncertain", "real", "no face")} \
            if mine else {}
        shares[name]["n"] = len(mine)
    return shares


def shares_table(shares: dict[str, dict[str, float]]) -> str:
    lines = ["| true label | n | labelled fake | uncertain | labelled real | no face |", "|---|---|---|---|---|---|"]
    for name, row in shares.items():
        if row.get("n"):
            lines.append(f"| {name} | {row['n']} | {row['fake']:.1%} | {row['uncertain']:.1%} | {row['real']:.1%} "
                         f"| {row['no face']:.1%} |")
    return "\n".join(lines)


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
    if args.jpeg_quality is not None:
        if not 0 <= args.jpeg_quality <= 100:
            raise SystemExit(f"error: --jpeg-quality must be between 0 and 100, got {args.jpeg_quality}.")
        detector.pre.jpeg_quality = args.jpeg_quality or None  # the Runtime reads the same object
        detector.video.pre.jpeg_quality = detector.pre.jpeg_quality  # (the model for videos, when there is one)
    videos = video_items(args.data, args.split)
    if videos is not None:
        if not videos.files:
            raise SystemExit(f"error: the {args.split!r} split of {args.data} holds no clip.")
        split = limit_split(videos, args.limit, args.seed)
        y, scores, files, verdicts = score_videos(detector, split, args.frames, args.aggregation, args.out,
                                                  args.threshold)
        level = "video (clip verdicts through analyze_video)"
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
        y, scores, files, verdicts = score_images(detector, split, args.detect_faces, args.crop_margin,
                                                  args.threshold, args.out)
        level = "image (detected faces)" if args.detect_faces else "image (face crops)"
    # one decision labels the items, places the accuracy's threshold and ranks a faceless clip
    # (clips: that of the model that scores videos, Detector.video)
    threshold = (detector.video.decision(args.threshold, clip=True) if videos is not None
                 else detector.decision(args.threshold)).threshold
    metrics = binary_metrics(y, scores, threshold)
    metrics["verdicts"] = verdict_shares(y, verdicts)
    origin = sources(args.data)
    if origin:
        metrics["per_source"] = per_source(files, y, scores, origin, threshold)
    name = args.name or (detector.video if videos is not None else detector).name
    metrics.update({"model": name, "checkpoint": str(args.model or "bundled default"), "data": str(args.data),
                    "precision": detector.precision,
                    "split": args.split, "level": level,
                    "command": "python train/evaluate.py " + " ".join(sys.argv[1:] if argv is None else argv)})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (args.out / "metrics.md").write_text(
        f"{level} level, {args.data} ({metrics['split']}), threshold {threshold}\n\n"
        + markdown_table([(name, metrics)]) + "\n\nVerdicts a user gets:\n\n" + shares_table(metrics["verdicts"]) + "\n"
        + (f"\nPer source:\n\n{source_table(metrics['per_source'])}\n" if origin else ""))
    with open(args.out / "scores.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "score"])
        for f, label, s in zip(files, y, scores):
            writer.writerow([f or "", int(label), f"{float(s):.6f}"])
    plots(y, scores, metrics, args.out, name)
    print(f"{level} level, {args.data}, split {metrics['split']}, {metrics['n']} items, threshold {threshold}")
    print(markdown_table([(name, metrics)]))
    print(shares_table(metrics["verdicts"]))
    if origin:
        print(source_table(metrics["per_source"]))
    return metrics


if __name__ == "__main__":
    main()
