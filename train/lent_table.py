"""The evaluation and shipping half of ``train/lent_gpu.sh pretrained`` (runs on the lent machine), and its undo here.

    python -m train.lent_table --decode --val PACK...                   # decode the training packs once (cache)
    python -m train.lent_table --runs /tmp/runs --val PACK... --test PACK... --out OUT --ship lite0 lite2
    python -m train.lent_table --restore OUT/lite0.tar --into runs/lent/lite0   # back here: fp32 checkpoint

Every finished run (``RUNS/NAME/best``) is scored on the val split of each training pack and the test split of each
test pack (packs are ``train/pack.py`` outputs, so re-encoded at 128 px: the README says so next to the table).
``OUT/results.tar`` holds ``table.json``, ``table.md`` and every run's ``log.jsonl``. The machine lets only 8 files
of 16 MiB back, so the shipped checkpoints (the runs named by ``--ship`` and the fusion with the best mean
validation ROC AUC) travel as fp16 weights; ``--restore`` turns them back into ordinary fp32 checkpoints, noting in
their config that the weights went through fp16.
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from detector.api import Detector
from detector.checkpoint import CONFIG_NAME, WEIGHTS_NAME, read_config
from detector.model import FusionDetector, split_config
from train.data import discover, discover_many, load_split
from train.fit import CACHE
from train.metrics import binary_metrics, markdown_table

_CHUNK = 15 * 2**20


def decode(packs: list[Path], size: int = 128) -> None:
    """Fill the dataset cache exactly as fit.py will read it (same file lists, same size)."""
    splits = discover_many(packs)
    for name in ("train", "val"):
        x, y, _ = load_split(splits[name], size, CACHE, name)
        print(name, x.shape, "fake share", round(float(y.mean()), 3), flush=True)


def evaluate(runs: Path, val: list[Path], test: list[Path]) -> dict[str, dict[str, dict]]:
    """``{dataset (split): {run name: metrics}}`` for every finished run."""
    sets = [(p, "val") for p in val] + [(p, "test") for p in test]
    arrays = {}
    for pack, split in sets:
        files = discover(pack)[split]
        if files.files:
            x, y, _ = load_split(files, 128)
            arrays[f"{pack.name} ({split})"] = (x, y)
    table: dict[str, dict[str, dict]] = {key: {} for key in arrays}
    for best in sorted(runs.glob("*/best")):
        if not (best / WEIGHTS_NAME).is_file():
            continue
        detector = Detector(FusionDetector.from_pretrained(best))
        for key, (x, y) in arrays.items():
            scores = detector.score_crops(x)
            table[key][best.parent.name] = binary_metrics(y, scores, detector.pre.threshold)
    return table


def pack_checkpoint(best: Path, out: Path, name: str) -> list[Path]:
    """The checkpoint with fp16 weights, as one tar (split into 15 MiB parts when larger)."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(best / WEIGHTS_NAME)).items()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for file in (CONFIG_NAME, "README.md"):
            if (best / file).is_file():
                tar.add(best / file, arcname=file)
        data = io.BytesIO()
        data.write(_safetensors_bytes(state))
        info = tarfile.TarInfo("model.fp16.safetensors")
        info.size = data.tell()
        data.seek(0)
        tar.addfile(info, data)
    blob = buffer.getvalue()
    parts = []
    for i in range(0, len(blob), _CHUNK):
        part = out / (f"{name}.tar" if len(blob) <= _CHUNK else f"{name}.tar.part{i // _CHUNK}")
        part.write_bytes(blob[i:i + _CHUNK])
        parts.append(part)
    return parts


def _safetensors_bytes(state: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in state.items()}, metadata={"format": "pt"})


def restore(parts: list[Path], into: Path) -> Path:
    """Join the parts, load the fp16 weights as fp32 through the checkpoint loader, save a normal checkpoint."""
    blob = b"".join(p.read_bytes() for p in sorted(parts))
    work = into.with_name(f".{into.name}.restore")
    work.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(work, filter="data")
    config = read_config(work)
    config.pop("weights_sha256", None)  # the hash of the fp32 weights before the trip, not of these
    (work / CONFIG_NAME).write_text(json.dumps(config))
    state = {k: v.float() if v.is_floating_point() else v for k, v in
             load_file(str(work / "model.fp16.safetensors")).items()}
    save_file(state, str(work / WEIGHTS_NAME))
    model = FusionDetector.from_pretrained(work, require_hash=False)  # strict checks; re-saved with its hash below
    _, extra = split_config(config)
    extra["weights_via"] = "fp16 (the lent machine returns 8 files of 16 MiB at most); fp32 here"
    card = (work / "README.md").read_text() if (work / "README.md").is_file() else ""
    body = card.split("## Training", 1)[1] if "## Training" in card else ""
    model.save_checkpoint(into, card_text=("## Training" + body) if body else "", extra_config=extra)
    for file in work.iterdir():
        file.unlink()
    work.rmdir()
    return into


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--decode", action="store_true")
    p.add_argument("--runs", type=Path)
    p.add_argument("--val", type=Path, nargs="*", default=[])
    p.add_argument("--test", type=Path, nargs="*", default=[])
    p.add_argument("--out", type=Path)
    p.add_argument("--ship", nargs="*", default=[])
    p.add_argument("--ship-best-fusion", action="store_true", help="also ship the fusion with the best mean val AUC")
    p.add_argument("--restore", type=Path, nargs="*")
    p.add_argument("--into", type=Path)
    args = p.parse_args(argv)
    if args.restore:
        print(restore(args.restore, args.into))
        return
    if args.decode:
        decode(args.val)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    table = evaluate(args.runs, args.val, args.test)
    text = "\n\n".join(f"### {key}\n\n{markdown_table(sorted(rows.items()))}" for key, rows in table.items())
    print(text, flush=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in (("table.json", json.dumps(table, indent=2)), ("table.md", text)):
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for log in sorted(args.runs.glob("*/log.jsonl")):
            tar.add(log, arcname=f"logs/{log.parent.name}.jsonl")
        for log in sorted(args.runs.glob("*.log")):
            tar.add(log, arcname=f"logs/{log.name}")
    (args.out / "results.tar").write_bytes(buffer.getvalue())
    vals = [k for k in table if k.endswith("(val)")]
    runs = sorted({name for rows in table.values() for name in rows})
    mean_val = {r: float(np.mean([table[k][r]["roc_auc"] or 0.0 for k in vals if r in table[k]])) for r in runs}
    print("mean validation ROC AUC:", json.dumps(mean_val), flush=True)
    fusions = [r for r in runs if r.endswith(("-e2e", "-stack"))]
    ship = [r for r in args.ship if r in runs]
    if fusions and args.ship_best_fusion:
        ship.append(max(fusions, key=mean_val.__getitem__))
    for name in ship:
        print("shipping", name, [p.name for p in pack_checkpoint(args.runs / name / "best", args.out, name)])


if __name__ == "__main__":
    main()
