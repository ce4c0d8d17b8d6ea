"""Pack a documented subset of a dataset small enough to travel to a lent GPU machine (or a laptop).

    python train/pack.py --data ../shared/data/dfdc-faces --out .pack/dfdc128 --size 128 --format webp \
        --quality 90 --count train=all val=all
    python train/pack.py --data ../shared/data/dfdc-faces --out .pack/grid --count train=9000 val=1200 test=1600

Writes ``OUT/manifest.csv`` (``file,label,split[,source]``: a manifest's source column is kept) and
``OUT/images/``. ``--count SPLIT=N`` takes a class-balanced, seeded random subset of N images of that split
(``all`` keeps the split whole); splits not named are left out.
``--format copy`` keeps the original files byte for byte; ``jpeg``/``webp``/``png`` re-encode them at ``--size`` px,
which is how the whole training set fits the 64 MiB a lent machine accepts. Re-encoded files are written from
decoded pixels, so no metadata survives, and ``--quality 60-95`` draws each file's JPEG/WebP quality at random
(seeded by its pixels, never by its label or name): a real and a fake of the same pixels come out byte for byte the
same, so neither a format, metadata nor a compression history chosen by the packer can tell them apart. With
``--detect-faces`` a video gives one crop per sampled frame (``--frames-per-video``). The packed files are copies
of the dataset: they inherit its terms and must never be committed (``.pack/`` is ignored). ``OUT/PACK.json``
records how the pack was made, so a model card can say what its model was trained on.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
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


def parse_quality(value: str) -> tuple[int, int]:
    lo, _, hi = value.partition("-")
    try:
        q = (int(lo), int(hi or lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a quality such as 90 or a range such as 60-95") from None
    if not 1 <= q[0] <= q[1] <= 100:
        raise argparse.ArgumentTypeError(f"{value!r}: qualities go from 1 to 100, low to high")
    return q


def content_draws(rgb: np.ndarray, seed: int) -> list[float]:
    """The random draws (degradation, quality) of one crop, seeded by its pixels: the same pixels get the same
    processing whatever their label, file name, format or position in the pack, and whatever the thread order."""
    digest = hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")]).random(9).tolist()


def shorter_side(path: Path) -> int | None:
    """A photo's shorter side from its header (None for a video or an unreadable file)."""
    try:
        with Image.open(path) as im:
            return min(im.size)
    except Exception:  # noqa: BLE001 - videos and broken files have no photo side
        return None


def encode(rgb: np.ndarray, dst: Path, fmt: str, quality: int) -> int:
    """Write decoded pixels (no metadata of the source survives) and return the file's size."""
    kwargs = {} if fmt == "png" else {"quality": quality}
    Image.fromarray(rgb).save(dst, fmt.upper(), **kwargs)
    return dst.stat().st_size


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="manifest CSV or folder (see train/data.py)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--count", nargs="+", default=["train=all", "val=all"], metavar="SPLIT=N")
    p.add_argument("--format", choices=["copy", "jpeg", "webp", "png"], default="copy")
    p.add_argument("--size", type=int, default=None, help="re-encode at this square size (jpeg/webp)")
    p.add_argument("--quality", type=parse_quality, default=(90, 90), metavar="Q or LO-HI",
                   help="JPEG/WebP quality, or a range drawn from per file (seeded, the same for both labels)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detect-faces", action="store_true",
                   help="pack the face crop the inference pipeline makes of each photo (largest face; MediaPipe + "
                        "--crop-margin), not the photo; photos without a face are left out")
    p.add_argument("--crop-margin", type=float, default=None, help="with --detect-faces (default: the project's)")
    p.add_argument("--crop-inside", action="store_true",
                   help="with --detect-faces: a square that runs past the photo's edge is moved inside it (the "
                        "preprocessing setting crop_inside), not filled with black")
    p.add_argument("--frames-per-video", type=int, default=8,
                   help="with --detect-faces: crops taken from a video (and at most this many faces of a photo with "
                        "--every-face)")
    p.add_argument("--every-face", action="store_true",
                   help="with --detect-faces: every face of a photo, not only the largest (only for data whose "
                        "photos' faces all share the photo's label: real photos; a fake photo may hold real faces)")
    p.add_argument("--match-resolution", action="store_true",
                   help="with --detect-faces: shrink each photo, before its face is found, to a shorter side drawn "
                        "(seeded by its pixels, whatever its label) from the shorter sides of the pack's real photos, "
                        "when it is longer, so that real and fake faces reach the crop with the same spread of "
                        "native resolution (a source of large fakes and small reals teaches 'fine detail = fake')")
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
        pre.crop_inside = args.crop_inside
        faces = FaceCropping(pre, frames_per_video=args.frames_per_video, every_face=args.every_face)
        if args.format == "copy":
            raise SystemExit("error: --detect-faces writes new crops: use --format jpeg, webp or png.")
    if args.match_resolution and faces is None:
        raise SystemExit("error: --match-resolution needs --detect-faces.")
    if args.degrade and args.format == "copy":
        raise SystemExit("error: --degrade writes new pixels: use --format jpeg, webp or png.")
    degrade = Degrade(p_border=0.0) if args.degrade else None
    if args.format != "copy" and not args.size:
        raise SystemExit("error: --format jpeg/webp/png needs --size.")
    splits = discover(args.data, seed=args.seed)
    images = args.out / "images"
    images.mkdir(parents=True, exist_ok=True)
    origin = sources(args.data)  # a manifest's source column travels with the pack (per-source evaluation)
    rows: list[tuple] = []
    jobs: list[tuple[int, Path, Path]] = []
    for split, n in parse_counts(args.count).items():
        chosen = limit_split(splits[split], n, args.seed)
        for i, (src, label) in enumerate(zip(chosen.files, chosen.labels)):
            suffix = src.suffix if args.format == "copy" else ".jpg" if args.format == "jpeg" else f".{args.format}"
            name = f"{split}-{i:05d}-{src.stem}{suffix}"
            rows.append((f"images/{name}", label, split) + ((origin.get(src, ""),) if origin else ()))
            jobs.append((len(jobs), src, images / name))

    max_side = None
    if args.match_resolution:
        real_sides = np.sort([side for row, (_, src, _) in zip(rows, jobs)
                              if int(row[1]) == 0 and (side := shorter_side(src)) is not None])
        if not len(real_sides):
            raise SystemExit("error: --match-resolution: no readable real photo among the packed files.")

        def max_side(rgb: np.ndarray) -> int:  # a quantile of the real sides, drawn from the photo's pixels
            u = content_draws(rgb, args.seed + 1)[0]
            return int(real_sides[min(len(real_sides) - 1, int(u * len(real_sides)))])

    def write(job: tuple[int, Path, Path]) -> list[tuple[str, int]]:
        """The files written for one source file (name, bytes): none when no face was found."""
        index, src, dst = job
        if args.format == "copy":
            shutil.copyfile(src, dst)
            return [(dst.name, dst.stat().st_size)]
        if faces is not None:
            crops = faces.crops(src, max_side)
            if len(crops) > 1:  # a video: one crop per sampled frame
                crops = crops[: args.frames_per_video]
            else:
                crops = crops[:1]
        else:
            with Image.open(src) as im:
                crops = [whole_image_input(np.asarray(im.convert("RGB")), args.size)]
        written = []
        for k, rgb in enumerate(crops):
            draws = content_draws(rgb, args.seed)
            if degrade is not None:
                params = degrade.params_from(draws[:8])
                rgb = degrade.transform(torch.from_numpy(rgb).permute(2, 0, 1), params).permute(1, 2, 0).numpy()
            lo, hi = args.quality
            out = dst if len(crops) == 1 else dst.with_name(f"{dst.stem}-f{k}{dst.suffix}")
            written.append((out.name, encode(rgb, out, args.format, lo + int(draws[8] * (hi - lo + 1) * 0.999999))))
        return written

    with ThreadPoolExecutor(1 if faces else None) as pool:  # the face pipeline keeps one thread
        outputs = list(pool.map(write, jobs))
    total = sum(n for files in outputs for _, n in files)
    rows = [(f"images/{name}",) + row[1:] for row, files in zip(rows, outputs) for name, _ in files]
    with open(args.out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "split"] + (["source"] if origin else []))
        w.writerows(rows)
    info = {"source": str(args.data), "counts": {s: sum(r[2] == s for r in rows) for s in SPLITS},
            "format": args.format, "size": args.size,
            "quality": list(args.quality) if args.format in ("jpeg", "webp") else None,
            "seed": args.seed, "degraded": args.degrade, "match_resolution": args.match_resolution,
            "megabytes": round(total / 2**20, 1),
            "face_crops": {"crop_margin": faces.pre.crop_margin, "crop_shift_y": faces.pre.crop_shift_y,
                           "crop_inside": faces.pre.crop_inside,
                           "no_face": sum(not files for files in outputs)} if faces else None,
            "command": "python train/pack.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    (args.out / "PACK.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info))
    return info


if __name__ == "__main__":
    main()
