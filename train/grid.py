"""Train the report's ten configurations with identical settings and write one comparison table.

    python train/grid.py --data ../shared/data/dfdc-faces --img-size 256 --epochs 12 --out runs/grid
    python train/grid.py --data ... --configs resnet18 meso4 resnet18+meso4 --out runs/members   # any subset

Each configuration is trained by ``train/fit.py`` into ``OUT/<name>`` (resumable: a finished one is skipped, an
interrupted one resumes) and evaluated by ``train/evaluate.py`` on ``--eval-split``; the table goes to
``OUT/table.md`` and ``OUT/table.json``. Arguments after ``--`` are passed to fit.py unchanged.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train import evaluate, fit
from train.metrics import markdown_table

SINGLES = ["xception", "densenet121", "resnet50", "meso4"]
PAIRS = ["meso4+resnet50", "meso4+densenet121", "meso4+xception", "xception+resnet50", "xception+densenet121",
         "resnet50+densenet121"]
TRIPLES = ["xception+densenet121+meso4", "xception+densenet121+resnet50"]


def main(argv: list[str] | None = None) -> list[tuple[str, dict]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--configs", nargs="+", default=SINGLES + PAIRS, help="names joined by '+' (default: the ten)")
    p.add_argument("--triples", action="store_true", help="also train 3-backbone fusions")
    p.add_argument("--img-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--eval-split", default="test", help="split the table reports (choose models on val)")
    p.add_argument("--eval-data", type=Path, action="append", default=[], help="extra datasets (cross-dataset)")
    args, fit_extra = p.parse_known_args(argv)
    fit_extra = [a for a in fit_extra if a != "--"]
    configs = args.configs + (TRIPLES if args.triples else [])
    rows: dict[str, list[tuple[str, dict]]] = {}
    for config in configs:
        run = args.out / config.replace("+", "_")
        done = (run / "done.json").is_file() and (run / "best" / "model.safetensors").is_file()
        if not done:
            fit.main(["--data", str(args.data), "--backbones", *config.split("+"), "--img-size", str(args.img_size),
                      "--epochs", str(args.epochs), "--out", str(run), "--resume",
                      *(["--limit", str(args.limit)] if args.limit else []), *fit_extra])
        for data in [args.data, *args.eval_data]:
            split = args.eval_split if data == args.data else "all"
            folder = run / f"eval-{data.name}-{split}"
            if done and (folder / "metrics.json").is_file():  # evaluated before, by an earlier pass
                metrics = json.loads((folder / "metrics.json").read_text())
            else:
                metrics = evaluate.main(["--model", str(run / "best"), "--data", str(data), "--split", split,
                                         "--out", str(folder), "--name", config,
                                         *(["--limit", str(args.limit)] if args.limit else [])])
            rows.setdefault(f"{data.name} ({split})", []).append((config, metrics))
    text = "\n\n".join(f"### {title}\n\n{markdown_table(r)}" for title, r in rows.items())
    (args.out / "table.md").write_text(text + "\n")
    (args.out / "table.json").write_text(json.dumps({t: dict(r) for t, r in rows.items()}, indent=2))
    print(text)
    return [row for r in rows.values() for row in r]


if __name__ == "__main__":
    main()
