"""Split validation faces into two fixed halves: fit a head on half A, judge it on half B.

    python train/halves.py --data PACKS/of-val-framed PACKS/dfdc-val-given PACKS/syn --split val \\
        --exclude dalle3 --out PACKS/stack/manifest.csv

A face belongs to half A when the md5 of its original file's stem is even, else to half B. The stem drops the
``val-00012-`` prefix ``train/pack.py`` gives a packed crop, so a packed crop and the photo it came from (as
``train/evaluate.py`` lists it in ``scores.csv``) fall in the same half: ``train/compare.py --half B`` then
compares models on exactly the faces the head never saw. The manifest written has ``split`` train for half A and
val for half B (what ``train/fit.py`` trains and selects on) and a ``source`` column (the input manifest's, else
the dataset's folder name, as ``--balance-sources`` reads it). ``--exclude`` leaves sources out of both halves,
e.g. a generator kept unseen. ``--add-to-a`` adds the *training*-split files of some sources to half A only: a
source a new member was trained without (``fit.py --hold-out-source``) then teaches the head, and half B stays as
it was:

    python train/halves.py --data PACKS/of-val-framed PACKS/dfdc-val-given PACKS/syn --split val \
        --exclude dalle3 --add-to-a sd14 london_set --out PACKS/stack21/manifest.csv
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
from collections import Counter
from pathlib import Path

from train.data import discover_many, hold_out, source_matches, source_of

PACKED = re.compile(r"^(?:train|val|test)-\d{5}-(.+)$")


def stem(path: str | Path) -> str:
    """The original file's stem: a packed crop's ``val-00012-`` prefix removed."""
    name = Path(path).stem
    match = PACKED.match(name)
    return match.group(1) if match else name


def half(path: str | Path) -> str:
    """``"A"`` or ``"B"``, fixed by the original file's stem."""
    return "A" if int(hashlib.md5(stem(path).encode("utf-8")).hexdigest(), 16) % 2 == 0 else "B"


def write_manifest(data: list[Path], split: str, out: Path, exclude: list[str] | None = None,
                   add_to_a: list[str] | None = None) -> Counter:
    """Write the half-A/half-B manifest of ``split`` of ``data``, plus the training-split files of the ``add_to_a``
    sources in half A; returns counts per (half, source, label)."""
    if add_to_a and split == "train":
        raise SystemExit("error: --add-to-a adds training files to half A; it needs a split other than train.")
    origin = source_of(data)
    splits = discover_many(data)
    files = splits[split]
    if exclude:
        files, _ = hold_out(files, origin, exclude)
    if not files.files:
        raise SystemExit(f"error: no {split} file in {[str(d) for d in data]} (after --exclude {exclude}).")
    rows, counts = [], Counter()

    def add(file: Path, label: int, h: str) -> None:
        source = origin.get(file, "")
        rows.append({"file": str(Path(file).resolve()), "label": label, "split": "train" if h == "A" else "val",
                     "source": source})
        counts[(h, source, label)] += 1

    for file, label in zip(files.files, files.labels):
        add(file, label, half(file))
    if add_to_a:
        extra = [(f, y) for f, y in zip(splits["train"].files, splits["train"].labels)
                 if source_matches(origin.get(f, ""), add_to_a)]
        if not extra:
            raise SystemExit(f"error: no training file of a source matching {add_to_a} in {[str(d) for d in data]}.")
        for file, label in extra:
            add(file, label, "A")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["file", "label", "split", "source"])
        writer.writeheader()
        writer.writerows(rows)
    return counts


def main(argv: list[str] | None = None) -> Counter:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="+", required=True, help="manifest CSVs / folders (train/data.py)")
    p.add_argument("--split", default="val", choices=["train", "val", "test"], help="which split to halve")
    p.add_argument("--exclude", nargs="+", default=None, metavar="SOURCE",
                   help="leave out every file whose source contains one of these (case-insensitive)")
    p.add_argument("--add-to-a", nargs="+", default=None, metavar="SOURCE",
                   help="also put the training-split files of these sources (name contains, case-insensitive) in "
                        "half A, e.g. a source a new member was trained without")
    p.add_argument("--out", type=Path, required=True, help="manifest CSV to write")
    args = p.parse_args(argv)
    counts = write_manifest(args.data, args.split, args.out, args.exclude, args.add_to_a)
    for (h, source, label), n in sorted(counts.items()):
        print(f"half {h}  {source}  {'fake' if label else 'real'}: {n}")
    return counts


if __name__ == "__main__":
    main()
