"""Pack a documented subset of a dataset small enough to travel to a lent GPU machine (or a laptop).

    python train/pack.py --data ../shared/data/dfdc-faces --out .pack/dfdc128 --size 128 --format webp \
        --quality 90 --count train=all val=all
    python train/pack.py --data ../shared/data/dfdc-faces --out .pack/grid --count train=9000 val=1200 test=1600

Writes ``OUT/manifest.csv`` (``file,label,split[,source]``: a manifest's source column is kept) and
``OUT/images/``. ``--count SPLIT=N`` takes a class-balanced, seeded random subset of N images of that split
(``all`` keeps the split whole); splits not named are left out.
``--format copy`` keeps the original files byte for byte; ``jpeg``/``webp`` re-encode them at ``--size`` px, which
is how the whole training set fits the 64 MiB a lent machine accepts. The packed files are copies of the dataset:
they inherit its terms and must never be committed (``.pack/`` is ignored). ``OUT/PACK.json`` records how the
pack was made, so a model card can say what its model was trained on.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from detector.faces import whole_image_input
from train.data import SPLITS, Degrade, discover, limit_split, sources


def parse_counts(items: list[str]) -> dict[str, int | None]:
    counts: dict[str, int | None] = {}
    for item in items:
        split, _, n = item.partition("=")
        if split not in SPLITS or not n or (n != "all" and not n.isdigit()):
            raise SystemExit(f"error: --count {item!r}: expected SPLIT=N or SPLIT=all with SPLIT in {SPLITS}.")
        counts[split] = None if n == "all" else int(n)
    return counts


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="manifest CSV or folder (see train/data.py)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--count", nargs="+", default=["train=all", "val=all"], metavar="SPLIT=N")
    p.add_argument("--format", choices=["copy", "jpeg", "webp"], default="copy")
    p.add_argument("--size", type=int, default=None, help="re-encode at this square size (jpeg/webp)")
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detect-faces", action="store_true",
                   help="pack the face crop the inference pipeline makes of each photo (largest face; MediaPipe + "
                        "--crop-margin), not the photo; photos without a face are left out")
    p.add_argument("--crop-margin", type=float, default=None, help="with --detect-faces (default: the project's)")
    p.add_argument("--degrade", action="store_true",
                   help="degrade each image once, seeded, as the robust training augmentation does (random "
                        "downscaling and JPEG re-encoding, no borders): a harder validation split")
    args = p.parse_args(argv)
    faces = None
    if args.detect_faces:
        from detector.config import Preprocessing
        from train.data import FaceCropping

        pre = Preprocessing(img_size=args.size or 256)
        if args.crop_margin is not None:
            pre.crop_margin = args.crop_margin
        faces = FaceCropping(pre, frames_per_video=1)
        if args.format == "copy":
            raise SystemExit("error: --detect-faces writes new crops: use --format jpeg or webp.")
    if args.degrade and args.format == "copy":
        raise SystemExit("error: --degrade writes new pixels: use --format jpeg or webp.")
    degrade = Degrade(p_border=0.0) if args.degrade else None
    if args.format != "copy" and not args.size:
        raise SystemExit("error: --format jpeg/webp needs --size.")
    splits = discover(args.data, seed=args.seed)
    images = args.out / "images"
    images.mkdir(parents=True, exist_ok=True)
    origin = sources(args.data)  # a manifest's source column travels with the pack (per-source evaluation)
    rows: list[tuple] = []
    jobs: list[tuple[int, Path, Path]] = []
    for split, n in parse_counts(args.count).items():
        chosen = limit_split(splits[split], n, args.seed)
        for i, (src, label) in enumerate(zip(chosen.files, chosen.labels)):
            suffix = src.suffix if args.format == "copy" else ".jpg" if args.format == "jpeg" else ".webp"
            name = f"{split}-{i:05d}-{src.stem}{suffix}"
            rows.append((f"images/{name}", label, split) + ((origin.get(src, ""),) if origin else ()))
            jobs.append((len(jobs), src, images / name))

    def write(job: tuple[int, Path, Path]) -> int:
        index, src, dst = job
        if args.format == "copy":
            shutil.copyfile(src, dst)
            return dst.stat().st_size
        if faces is not None:
            crops = faces.crops(src)
            if not crops:
                return -1
            rgb = crops[0]
        else:
            with Image.open(src) as im:
                rgb = whole_image_input(np.asarray(im.convert("RGB")), args.size)
        if degrade is not None:  # the same degradation for an image whatever the thread order
            params = degrade.params_from(np.random.default_rng((args.seed, index)).random(8).tolist())
            rgb = degrade.transform(torch.from_numpy(rgb).permute(2, 0, 1), params).permute(1, 2, 0).numpy()
        Image.fromarray(rgb).save(dst, args.format.upper(), quality=args.quality)
        return dst.stat().st_size

    with ThreadPoolExecutor(1 if faces else None) as pool:  # the face pipeline keeps one thread
        sizes = list(pool.map(write, jobs))
    total = sum(n for n in sizes if n > 0)
    rows = [row for row, n in zip(rows, sizes) if n > 0]
    with open(args.out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "split"] + (["source"] if origin else []))
        w.writerows(rows)
    info = {"source": str(args.data), "counts": {s: sum(r[2] == s for r in rows) for s in SPLITS},
            "format": args.format, "size": args.size, "quality": args.quality if args.format != "copy" else None,
            "seed": args.seed, "degraded": args.degrade, "megabytes": round(total / 2**20, 1),
            "face_crops": {"crop_margin": faces.pre.crop_margin, "crop_shift_y": faces.pre.crop_shift_y,
                           "no_face": sizes.count(-1)} if faces else None,
            "command": "python train/pack.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    (args.out / "PACK.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info))
    return info


if __name__ == "__main__":
    main()
