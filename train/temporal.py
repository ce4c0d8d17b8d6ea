"""Does a temporal head beat a plain aggregation of per-frame scores? Measured on the clips of a video set.

    python train/temporal.py --model assets/models/default --data /data/videos --out eval/temporal

Every train and val clip goes through ``Detector.analyze_video`` exactly as the app runs it (same frames, faces,
tracks and person rule). For each person, the fused features of every sampled face are kept: the head's hidden
layer (``Dense 256 ReLU`` of the fusion, the feature-level fusion of the members) and the face's logit. Then three
ways of turning a person's frames into one score are compared on the validation clips, each fitted on the train
clips only:

- ``mean``: the mean per-frame P(fake) (the checkpoint's rule; nothing to fit);
- ``pooled``: mean, standard deviation and maximum of the hidden features over the frames -> standardised ->
  logistic regression, its regularisation chosen by cross-validation on the train clips grouped by identity
  (the manifest's ``group`` column), so that clips of one person never sit on both sides of a fold;
- ``attention``: a learnt attention over the frames (a softmax of one linear score per frame) pools the hidden
  features, then one linear layer; trained on random runs of frames of the train clips (frames as extra items),
  averaged over seeds.

A clip's score is its most suspicious person's, as in the app. ``OUT/temporal.json`` holds each rule's validation ROC
AUC with a paired bootstrap against ``mean``; ``OUT/features.json`` caches the features (``--reuse``).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from detector.api import Detector
from detector.errors import DetectorError
from train.metrics import paired_bootstrap_auc

log = logging.getLogger("temporal")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint folder or Hub repo id")
    p.add_argument("--data", type=Path, required=True, help="a video set: a folder with manifest.csv (file, label, "
                                                             "split[, group])")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: the model's)")
    p.add_argument("--seeds", type=int, default=5, help="attention head: seeds averaged")
    p.add_argument("--reuse", action="store_true", help="read OUT/features.json instead of decoding the clips")
    return p.parse_args(argv)


def read_manifest(data: Path) -> list[dict[str, str]]:
    manifest = data / "manifest.csv" if data.is_dir() else data
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if (r.get("split") or "").strip().lower() in ("train", "val")]
    for r in rows:
        r["path"] = str(manifest.parent / r["file"])
        r["label"] = "1" if r["label"].strip().lower() in ("fake", "1") else "0"
        r["group"] = r.get("group") or r["file"]
    return rows


@torch.no_grad()
def person_features(detector: Detector, path: str, frames: int | None) -> list[dict[str, np.ndarray]]:
    """Each person of a clip (as the app counts them), with per-frame hidden features and logits."""
    result = detector.analyze_video(path, frames=frames, keep_crops=True)
    model = detector.model.eval()
    hidden_layer = torch.nn.Sequential(*list(model.head.children())[:2])  # Linear + ReLU: the fused hidden features
    persons = []
    for track in result.tracks:
        crops = np.stack([f.crop for f in track.faces])
        x = detector.to_tensor(crops).float()
        hidden = hidden_layer(torch.cat(model.features(x), dim=1))
        logits = model.head[3](hidden).squeeze(1)
        persons.append({"hidden": hidden.numpy().astype(np.float32), "logit": logits.numpy().astype(np.float32)})
    return persons


def pool(hidden: np.ndarray) -> np.ndarray:
    return np.concatenate([hidden.mean(0), hidden.std(0), hidden.max(0)])


class AttentionHead(torch.nn.Module):
    """Attention pooling over frames: weights = softmax(w . h_t), z = sum_t weights_t h_t, logit = v . z + b."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = torch.nn.Linear(dim, 1)
        self.out = torch.nn.Linear(dim, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (T, D) -> scalar logit
        weights = torch.softmax(self.score(h).squeeze(1), dim=0)
        return self.out((weights[:, None] * h).sum(0)).squeeze()


def fit_attention(tracks: list[np.ndarray], labels: np.ndarray, seed: int, steps: int = 600,
                  window: int = 8) -> AttentionHead:
    """Train on random runs of ``window`` frames of each training person (frames as extra items), weight decay."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    scale = np.concatenate(tracks).std(0) + 1e-6
    head = AttentionHead(tracks[0].shape[1])
    head.register_buffer("scale", torch.from_numpy(scale.astype(np.float32)))
    opt = torch.optim.AdamW(head.parameters(), lr=3e-3, weight_decay=1e-2)
    tensors = [torch.from_numpy(t) / head.scale for t in tracks]
    y = torch.from_numpy(labels.astype(np.float32))
    for _ in range(steps):
        i = int(torch.randint(len(tensors), (1,), generator=gen))
        t = tensors[i]
        start = int(torch.randint(max(1, len(t) - window + 1), (1,), generator=gen))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(t[start:start + window]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()


def clip_scores(persons_per_clip: list[list[np.ndarray]], score_person) -> np.ndarray:
    """A clip's score: its most suspicious person's (0.0 for a clip where no person was found)."""
    return np.asarray([max((score_person(p) for p in persons), default=0.0) for persons in persons_per_clip])


def compare(clips: list[dict], seeds: int = 5) -> dict:
    """Fit each rule on the train clips, score the val clips; the figures of ``OUT/temporal.json``."""
    train = [c for c in clips if c["split"] == "train" and c["persons"]]
    val = [c for c in clips if c["split"] == "val"]
    y_val = np.asarray([c["label"] for c in val])
    # a training clip's person: its longest track (a fake clip's label is about its main face)
    x_tracks = [max(c["persons"], key=lambda p: len(p["logit"]))["hidden"] for c in train]
    y_train = np.asarray([c["label"] for c in train])
    groups = [c["group"] for c in train]
    val_persons = [c["persons"] for c in val]
    scores: dict[str, np.ndarray] = {}
    scores["mean"] = clip_scores(val_persons, lambda p: float(np.mean(1 / (1 + np.exp(-p["logit"])))))
    folds = min(5, len(set(groups)))
    pooled = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
                          {"logisticregression__C": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]},
                          cv=GroupKFold(folds), scoring="roc_auc")
    pooled.fit(np.stack([pool(h) for h in x_tracks]), y_train, groups=groups)
    scores["pooled"] = clip_scores(val_persons, lambda p: float(pooled.predict_proba(pool(p["hidden"])[None])[0, 1]))
    heads = [fit_attention(x_tracks, y_train, seed) for seed in range(seeds)]

    def attend(p: dict) -> float:
        h = torch.from_numpy(p["hidden"])
        with torch.no_grad():
            return float(np.mean([torch.sigmoid(head(h / head.scale)).item() for head in heads]))

    scores["attention"] = clip_scores(val_persons, attend)
    rules = {}
    for name, s in scores.items():
        row = {"val_roc_auc": round(float(roc_auc_score(y_val, s)), 4)}
        if name != "mean":
            row["vs_mean"] = {k: round(v, 4) if isinstance(v, float) else v
                              for k, v in paired_bootstrap_auc(y_val, s, scores["mean"]).items()}
        rules[name] = row
    rules["pooled"]["chosen_C"] = pooled.best_params_["logisticregression__C"]
    rules["pooled"]["train_cv_roc_auc"] = round(float(pooled.best_score_), 4)
    return {"train_clips": len(train), "val_clips": len(val), "val_fake": int(y_val.sum()), "rules": rules}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "features.json"
    if args.reuse and cache.is_file():
        clips = json.loads(cache.read_text(encoding="utf-8"))
        for c in clips:
            for p in c["persons"]:
                p["hidden"] = np.asarray(p["hidden"], dtype=np.float32)
                p["logit"] = np.asarray(p["logit"], dtype=np.float32)
    else:
        detector = Detector.from_pretrained(args.model, backend="torch")
        clips = []
        for row in tqdm(read_manifest(args.data), desc="clips", file=sys.stderr):
            try:
                persons = person_features(detector, row["path"], args.frames)
            except DetectorError as exc:
                log.warning("skipping %s: %s", row["path"], exc)
                continue
            clips.append({"file": row["file"], "label": int(row["label"]), "split": row["split"], "group": row["group"],
                          "persons": persons})
        as_json = [{**c, "persons": [{k: v.tolist() for k, v in p.items()} for p in c["persons"]]} for c in clips]
        cache.write_text(json.dumps(as_json), encoding="utf-8")
    result = {"model": str(args.model), "data": str(args.data), **compare(clips, args.seeds)}
    (args.out / "temporal.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
