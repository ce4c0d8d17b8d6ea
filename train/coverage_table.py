"""Does adding a kind of fake cost accuracy on the others? Train on A, A+B, A+B+C; score each on every eval set.

    python train/coverage_table.py --out runs/table \
        --kind dfdc=/work/packs/dfdc-6k \
        --kind openforensics=/work/packs/of-tight-train,/work/packs/of-tight-val,/work/packs/of-loose-6k \
        --kind synthetic=/work/packs/synth128 \
        --eval "DFDC val=/work/packs/dfdc-6k:val" "synthetic, unseen generators=/work/packs/synth128:test" \
        -- --backbones efficientnet_lite0 efficientnet_lite2 --img-size 128 --freeze-backbones \
           --init-backbones assets/models/default --augment robust --balance-sources --epochs 2

Each ``--kind NAME=DATA[,DATA...]`` adds training data; row k is trained on the first k kinds with the fit.py
arguments after ``--`` (the same for every row, so rows differ only in data). ``--variant LABEL="ARGS"`` adds a row
trained on every kind with ARGS added (e.g. ``--variant SBI="--sbi"``: does self-blending help on top?).
Each ``--eval LABEL=DATA:SPLIT`` is a column, scored with train/evaluate.py at the row's own threshold. Finished
fits and scores are kept, so an interrupted run picks up where it stopped. Writes ``OUT/table.md`` and
``OUT/table.json``: ROC AUC / accuracy.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

from train import evaluate, fit

log = logging.getLogger("train.coverage_table")


def pair(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.rpartition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{what} must look like NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    fit_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="one run folder per row, and the table")
    p.add_argument("--kind", action="append", required=True, type=lambda t: pair(t, "--kind"),
                   help="NAME=DATA[,DATA...]: a kind of fake's training data (in the order rows add them)")
    p.add_argument("--eval", nargs="+", required=True, type=lambda t: pair(t, "--eval"),
                   help="LABEL=DATA:SPLIT, one per column")
    p.add_argument("--variant", action="append", default=[], type=lambda t: pair(t, "--variant"),
                   help='LABEL="FIT ARGS": one more row, on every kind, with these fit.py arguments added')
    args = p.parse_args(own)
    for label, where in args.eval:
        if ":" not in where:
            p.error(f"--eval {label}={where}: name the split (DATA:val, DATA:test, DATA:all)")
    if "--out" in fit_args or "--data" in fit_args:
        p.error("--out and --data are set per row; leave them out of the fit.py arguments")
    return args, fit_args


def row_name(kinds: list[tuple[str, str]]) -> str:
    return "+".join(name for name, _ in kinds)


def run_row(name: str, kinds: list[tuple[str, str]], fit_args: list[str], out: Path,
            columns: list[tuple[str, str]]) -> dict[str, dict]:
    folder = out / name.replace("/", "_").replace(" ", "_")
    if not (folder / "done.json").is_file():
        data = [d for _, paths in kinds for d in paths.split(",")]
        extra = ["--resume"] if (folder / "last.pt").is_file() else []
        fit.main(["--data", *data, "--out", str(folder), *fit_args, *extra])
    scores = {}
    for i, (label, where) in enumerate(columns):
        data, _, split = where.rpartition(":")
        target = folder / "eval" / f"{i}"
        if (target / "metrics.json").is_file():
            scores[label] = json.loads((target / "metrics.json").read_text())
            continue
        scores[label] = evaluate.main(["--model", str(folder / "best"), "--data", data, "--split", split,
                                       "--out", str(target)])
    return scores


def render(rows: dict[str, dict[str, dict]], columns: list[str]) -> str:
    lines = ["| trained on | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, scores in rows.items():
        cells = [f"{scores[c]['roc_auc']:.3f} / {scores[c]['accuracy']:.3f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args, fit_args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for k in range(1, len(args.kind) + 1):
        name = row_name(args.kind[:k])
        rows[name] = run_row(name, args.kind[:k], fit_args, args.out, args.eval)
    for label, extra in args.variant:
        name = f"{row_name(args.kind)}, {label}"
        rows[name] = run_row(name, args.kind, fit_args + shlex.split(extra), args.out, args.eval)
    labels = [label for label, _ in args.eval]
    table = render(rows, labels)
    (args.out / "table.md").write_text("ROC AUC / accuracy at each row's threshold\n\n" + table + "\n")
    (args.out / "table.json").write_text(json.dumps(
        {"fit_args": fit_args, "kinds": dict(args.kind), "variants": dict(args.variant), "columns": dict(args.eval),
         "rows": {r: {c: {"roc_auc": s[c]["roc_auc"], "accuracy": s[c]["accuracy"], "n": s[c]["n"]} for c in labels}
                  for r, s in rows.items()}}, indent=2))
    print(table)
    return rows


if __name__ == "__main__":
    main()
