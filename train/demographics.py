"""False-fake rate on real women against real men: did the model learn "woman = fake"?

    python train/evaluate.py --model M --data /data/synthetic-pack --split val --out eval/syn-val
    python train/demographics.py --scores eval/syn-val/scores.csv --threshold 0.6 \
        --info london=/data/synthetic/london_info.csv canada=/data/synthetic/canada_info.csv

Every Stable Diffusion 1.4 fake of the synthetic-faces train split is a blonde woman and many reals are men, so a
model can learn gender as "fake". This reads the real faces of an ``evaluate.py`` scores file whose gender is known:

- UTKFace files carry it in their name (``AGE_GENDER_RACE_...``, gender 0 = male, 1 = female);
- the London and Canada face sets (webmorphR.stim) carry an id, looked up in their ``*_info.csv`` (``face_id``,
  ``face_gender``), passed as ``--info NAME=CSV``.

It prints and writes (``--out``) the false-fake rate (share of real faces at or above the threshold) and the mean
score per gender and source, pooled, and the gap in points.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

_UTK = re.compile(r"utkface[^_]*(?:_[a-z]+)*__\d+_([01])_\d")
_SET = re.compile(r"(london|canada)_set__(\w+?)(?:_\d+)?\.\w+$")


def gender_of(name: str, info: dict[str, dict[str, str]]) -> tuple[str, str] | None:
    """(source, "female"/"male") of a real face file, or None when unknown."""
    m = _UTK.search(name)
    if m:
        return "utkface", "female" if m.group(1) == "1" else "male"
    m = _SET.search(name)
    if m and m.group(1) in info:
        gender = info[m.group(1)].get(m.group(2))
        return (m.group(1), gender) if gender in ("female", "male") else None
    return None


def read_info(items: list[str]) -> dict[str, dict[str, str]]:
    info = {}
    for item in items:
        name, _, path = item.partition("=")
        with open(path, newline="", encoding="utf-8") as fh:
            info[name] = {row["face_id"]: row["face_gender"].strip().lower() for row in csv.DictReader(fh)}
    return info


def gender_gap(rows: list[tuple[str, int, float]], info: dict[str, dict[str, str]], threshold: float) -> dict:
    groups: dict[tuple[str, str], list[float]] = {}
    for name, label, score in rows:
        found = gender_of(Path(name).name, info) if label == 0 else None
        if found:
            groups.setdefault(found, []).append(score)
            groups.setdefault(("all", found[1]), []).append(score)
    table = {f"{src}/{g}": {"n": len(v), "false_fake_rate": round(sum(s >= threshold for s in v) / len(v), 4),
                            "mean_score": round(sum(v) / len(v), 4)} for (src, g), v in sorted(groups.items())}
    women, men = table.get("all/female"), table.get("all/male")
    gap = None if not (women and men) else round(100 * (women["false_fake_rate"] - men["false_fake_rate"]), 2)
    return {"threshold": threshold, "groups": table, "gap_points_women_minus_men": gap}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scores", type=Path, nargs="+", required=True, help="scores.csv files of evaluate.py")
    p.add_argument("--threshold", type=float, required=True, help="the model's decision threshold")
    p.add_argument("--info", nargs="*", default=[], metavar="NAME=CSV", help="london=... canada=... info files")
    p.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = p.parse_args(argv)
    rows = []
    for path in args.scores:
        with open(path, newline="", encoding="utf-8") as fh:
            rows += [(r["file"], int(r["label"]), float(r["score"])) for r in csv.DictReader(fh)]
    result = gender_gap(rows, read_info(args.info), args.threshold)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
