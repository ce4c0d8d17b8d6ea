"""Datasets for training and evaluation: manifests, folder layouts, the report's augmentation.

Recognised inputs (labels: 0 = real, 1 = fake; folder names are case-insensitive):

- a manifest CSV ``file,label,split[,source_video]`` (paths relative to the CSV), e.g. dfdc-faces/manifest.csv;
- ``Train|Validation|Test/Real|Fake`` (the Kaggle/OpenForensics layout the report used);
- ``train|val|test/real|fake``;
- a flat ``real|fake`` folder, split by ratio (seeded, so the split is stable).

Files may also be full photos or videos (``fit.py --detect-faces``): faces are then cropped by the project's own
face pipeline with the checkpoint's crop geometry, so training crops and inference crops are made the same way.

Images are decoded once, resized to the model's input size and kept in memory as uint8 (a cache file next to the
user cache speeds up later runs); a corrupt image is skipped with a warning and counted.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from detector.config import Preprocessing
from detector.errors import InputError
from detector.faces import whole_image_input
from detector.images import IMAGE_SUFFIXES, load_image
from detector.runtime import normalise
from detector.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                  "test": "test", "testing": "test"}
_LABELS = {"real": 0, "fake": 1}


class LayoutError(ValueError):
    """The data folder matches none of the recognised layouts."""


@dataclass
class Split:
    """File paths and labels of one split."""

    files: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def add(self, path: Path, label: int) -> None:
        self.files.append(path)
        self.labels.append(label)


def _label(name: str) -> int | None:
    return _LABELS.get(name.strip().lower())


def _images(folder: Path) -> list[Path]:
    """Images and videos (videos are used with face cropping, see :class:`FaceCropping`)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)


def _children(folder: Path) -> dict[str, Path]:
    return {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}


def discover(data: Path, val_ratio: float = 0.1, test_ratio: float = 0.1, seed: int = 0) -> dict[str, Split]:
    """Find the splits of a dataset given as a manifest CSV or one of the folder layouts."""
    data = Path(data)
    if data.is_file() and data.suffix.lower() == ".csv":
        return _from_manifest(data)
    if data.is_dir() and (data / "manifest.csv").is_file():
        return _from_manifest(data / "manifest.csv")
    if not data.is_dir():
        raise LayoutError(f"{data} is neither a manifest CSV nor a folder.")
    children = _children(data)
    split_dirs = {_SPLIT_ALIASES[k]: v for k, v in children.items() if k in _SPLIT_ALIASES}
    if split_dirs:
        splits = {s: Split() for s in SPLITS}
        for split, folder in split_dirs.items():
            classes = {_label(k): v for k, v in _children(folder).items() if _label(k) is not None}
            if set(classes) != {0, 1}:
                raise LayoutError(f"{folder} must contain 'real' and 'fake' folders; found "
                                  f"{sorted(_children(folder)) or 'no folders'}.")
            for label, cls_dir in sorted(classes.items()):
                for p in _images(cls_dir):
                    splits[split].add(p, label)
        return splits
    classes = {_label(k): v for k, v in children.items() if _label(k) is not None}
    if set(classes) == {0, 1}:
        return _ratio_split(classes, val_ratio, test_ratio, seed)
    raise LayoutError(
        f"Unrecognised data layout in {data}: found folders {sorted(children) or 'none'}. Expected a manifest.csv "
        "(file,label,split), Train|Validation|Test/Real|Fake, train|val|test/real|fake, or real|fake folders."
    )


def has_splits(data: Path) -> bool:
    """Whether the dataset names its own splits (a manifest or split folders); a flat real|fake folder does not, and
    :func:`discover` then splits it by ratio (for training), which an evaluation should not do."""
    data = Path(data)
    if data.is_file() or (data / "manifest.csv").is_file():
        return True
    return data.is_dir() and any(k in _SPLIT_ALIASES for k in _children(data))


def discover_many(datasets: list[Path], seed: int = 0) -> dict[str, Split]:
    """The splits of several datasets, concatenated split by split (e.g. OpenForensics + DFDC trained together)."""
    merged = {s: Split() for s in SPLITS}
    for data in datasets:
        for name, split in discover(data, seed=seed).items():
            merged[name].files += split.files
            merged[name].labels += split.labels
    return merged


def sources(data: Path) -> dict[Path, str]:
    """The ``source`` column of a manifest (generator or camera source per file; a video manifest's ``kind``, the
    tool that made a clip), or {} when it has none."""
    data = Path(data)
    manifest = data / "manifest.csv" if data.is_dir() else data
    if not manifest.is_file() or manifest.suffix.lower() != ".csv":
        return {}
    with open(manifest, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        column = next((c for c in ("source", "kind") if c in (reader.fieldnames or [])), None)
        if column is None:
            return {}
        return {manifest.parent / row["file"]: row[column] for row in reader}


def dataset_name(data: Path) -> str:
    """A dataset's short name: its folder (the folder holding it, for a manifest CSV)."""
    data = Path(data)
    return data.parent.name if data.suffix.lower() == ".csv" else data.name


def source_of(datasets: list[Path]) -> dict[Path, str]:
    """Each file's source: the manifest's ``source`` column where it has one, else the dataset's folder name."""
    origin: dict[Path, str] = {}
    for data in datasets:
        name = dataset_name(data)
        own = sources(data)
        for split in discover(data).values():
            origin.update({f: own.get(f, name) for f in split.files})
    return origin


def source_matches(source: str, names: list[str]) -> bool:
    """Whether a source's name contains one of ``names`` (case-insensitive)."""
    return any(n.lower() in source.lower() for n in names)


def hold_out(split: Split, origin: dict[Path, str], names: list[str]) -> tuple[Split, int]:
    """``split`` without the files whose source contains one of ``names`` (case-insensitive), and how many went:
    a generator kept out of training, so that a model's score on it says how it does on generators it never saw."""
    keep = [i for i, f in enumerate(split.files) if not source_matches(origin.get(f, ""), names)]
    return Split([split.files[i] for i in keep], [split.labels[i] for i in keep]), len(split.files) - len(keep)


def balanced_weights(files: list[Path], labels: np.ndarray, origin: dict[Path, str]) -> np.ndarray:
    """Sampling weights under which each class is half of the draws and, within a class, each source's share grows
    with the square root of its size: no single source dominates a class (one generator among the fakes), and a
    tiny source is not repeated hundreds of times per epoch."""
    groups = [(int(y), origin.get(f, "")) for f, y in zip(files, labels)]
    count: dict[tuple[int, str], int] = {}
    for g in groups:
        count[g] = count.get(g, 0) + 1
    mass = {c: sum(np.sqrt(n) for g, n in count.items() if g[0] == c) for c in (0, 1)}
    return np.array([0.5 / (mass[g[0]] * np.sqrt(count[g])) for g in groups])


def _from_manifest(path: Path) -> dict[str, Split]:
    splits = {s: Split() for s in SPLITS}
    seen: dict[Path, tuple[str, int]] = {}
    repeated = 0
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "label"} - set(reader.fieldnames or [])
        if missing:
            raise LayoutError(f"{path} lacks the column(s) {sorted(missing)}; expected file,label,split.")
        for row in reader:
            label = _label(row["label"]) if not row["label"].strip().isdigit() else int(row["label"])
            if label not in (0, 1):
                raise LayoutError(f"{path}: label {row['label']!r} is neither real/fake nor 0/1.")
            split = _SPLIT_ALIASES.get((row.get("split") or "train").strip().lower())
            if split is None:
                raise LayoutError(f"{path}: unknown split {row.get('split')!r}; use train, val or test.")
            file = path.parent / row["file"]
            if file in seen:
                if seen[file] != (split, label):
                    raise LayoutError(f"{path}: {row['file']} is listed twice, as {seen[file]} and {(split, label)}.")
                repeated += 1
                continue
            seen[file] = (split, label)
            splits[split].add(file, label)
    if repeated:
        # e.g. two source files of one name that an extraction wrote to one path: each file is read once
        log.warning("%s lists %d file(s) more than once; each is read once", path, repeated)
    return splits


def _ratio_split(classes: dict[int | None, Path], val: float, test: float, seed: int) -> dict[str, Split]:
    splits = {s: Split() for s in SPLITS}
    for label, folder in sorted(classes.items()):  # type: ignore[arg-type]
        files = _images(folder)
        random.Random(seed).shuffle(files)
        n_val, n_test = int(round(len(files) * val)), int(round(len(files) * test))
        for i, p in enumerate(files):
            split = "val" if i < n_val else "test" if i < n_val + n_test else "train"
            splits[split].add(p, int(label))  # type: ignore[arg-type]
    return splits


def limit_split(split: Split, limit: int | None, seed: int) -> Split:
    """A class-balanced random subset of at most ``limit`` images (all when ``limit`` is None, none when 0)."""
    if limit is None or limit >= len(split.files):
        return split
    if limit <= 0:
        return Split()
    idx = list(range(len(split.files)))
    random.Random(seed).shuffle(idx)
    by_label: dict[int, list[int]] = {0: [], 1: []}
    for i in idx:
        by_label[split.labels[i]].append(i)
    take = sorted(by_label[0][: limit // 2] + by_label[1][: limit - min(limit // 2, len(by_label[0]))])[:limit]
    return Split([split.files[i] for i in take], [split.labels[i] for i in take])


def load_split(split: Split, size: int, cache_dir: Path | None = None, desc: str = "",
               faces: FaceCropping | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Decode and resize every item once: ``(N, S, S, 3)`` uint8, labels, number of unreadable items skipped.

    Without ``faces`` every file is an image that already is a face crop. With ``faces``, files are full photos or
    videos: the project's own face pipeline (MediaPipe + the checkpoint's crop geometry) crops the largest face of
    each photo and of each of ``faces.frames_per_video`` frames of each video, exactly as inference will."""
    from tqdm import tqdm

    tag = f"|{size}" + (f"|{faces.key()}" if faces else "")
    key = hashlib.sha256(("|".join(map(str, split.files)) + tag).encode()).hexdigest()[:16]
    cache = cache_dir / f"{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        data = np.load(cache)
        return data["x"], data["y"], int(data["skipped"])

    def decode(path: Path) -> list[np.ndarray] | InputError:
        try:
            return faces.crops(path) if faces else [whole_image_input(load_image(path), size)]
        except InputError as exc:
            return exc

    # image decoding releases the GIL, so threads use every core; the face pipeline keeps one thread
    threads = 1 if faces else min(32, os.cpu_count() or 1)
    images, labels, skipped = [], [], 0
    with ThreadPoolExecutor(threads) as pool:
        decoded = pool.map(decode, split.files)
        for path, label, crops in tqdm(zip(split.files, split.labels, decoded), total=len(split.files),
                                       desc=f"decoding {desc}", leave=False):
            if isinstance(crops, InputError):
                skipped += 1
                log.warning("Skipping unreadable file %s: %s", path, crops)
                continue
            if not crops:
                skipped += 1
                log.warning("Skipping %s: no face found", path)
            images += crops
            labels += [label] * len(crops)
    x = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    y = np.asarray(labels, dtype=np.int64)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")  # several runs may fill the same cache at once
        np.savez(tmp, x=x, y=y, skipped=skipped)
        os.replace(tmp, cache)
    return x, y, skipped


class FaceCropping:
    """Crops training faces from full photos and videos with the inference pipeline (largest face per image/frame;
    ``every_face``: every face of a photo, for sets whose photos' faces all share the photo's label, e.g. reals)."""

    def __init__(self, pre: Preprocessing, frames_per_video: int = 8, min_confidence: float = 0.5,
                 every_face: bool = False) -> None:
        from detector.faces import FaceFinder

        self.pre, self.frames_per_video = pre, int(frames_per_video)
        self.finder = FaceFinder(min_confidence)
        self.every_face = every_face  # a photo gives every face it shows (for photos whose faces are all real)

    def key(self) -> str:
        pre = self.pre
        return (f"faces|{pre.crop_margin}|{pre.crop_shift_y}|{self.frames_per_video}|{self.finder.min_confidence}"
                + ("|every" if self.every_face else "") + ("|inside" if pre.crop_inside else ""))

    def _largest(self, rgb: np.ndarray) -> list[np.ndarray]:
        from detector.faces import crop_face

        found = self.finder.detect(rgb)
        if not found:
            return []
        if self.every_face:
            return [crop_face(rgb, f.box, self.pre) for f in sorted(found, key=lambda f: -f.box[2] * f.box[3])]
        face = max(found, key=lambda f: f.box[2] * f.box[3])
        return [crop_face(rgb, face.box, self.pre)]

    def crops(self, path: Path, max_side: Callable[[np.ndarray], int] | None = None) -> list[np.ndarray]:
        """``max_side``: for a photo, the shorter side it is shrunk to (area averaging) before faces are found,
        when it is longer; chosen from the photo's pixels (``pack.py --match-resolution``)."""
        from detector.sniff import kind_of
        from detector.video import read_frames

        if kind_of(path) == "video" or path.suffix.lower() in VIDEO_SUFFIXES:
            _, frames, _ = read_frames(path, self.frames_per_video)
            return [crop for _, rgb in frames for crop in self._largest(rgb)]
        rgb = load_image(path)
        if max_side is not None:
            rgb = shrink_to(rgb, max_side(rgb))
        return self._largest(rgb)  # (every face, largest first, with every_face)


def shrink_to(rgb: np.ndarray, side: int) -> np.ndarray:
    """The photo with its shorter side shrunk to ``side`` (area averaging); unchanged when it is not longer."""
    h, w = rgb.shape[:2]
    if min(h, w) <= side:
        return rgb
    f = side / min(h, w)
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


class ChannelShift(v2.Transform):
    """Keras-style channel shift: add an independent random offset to each colour channel (float images)."""

    def __init__(self, shift: float = 0.1) -> None:
        super().__init__()
        self.shift = shift

    def make_params(self, flat_inputs: list) -> dict:
        return {"offset": (torch.rand(3, 1, 1) * 2 - 1) * self.shift}

    def transform(self, inpt: torch.Tensor, params: dict) -> torch.Tensor:
        if isinstance(inpt, torch.Tensor) and inpt.is_floating_point() and inpt.ndim >= 3:
            return (inpt + params["offset"].to(inpt.dtype)).clamp_(0.0, 1.0)
        return inpt


def train_transform() -> v2.Compose:
    """The report's augmentation: rotation <= 15 deg, zoom 20%, brightness +-20%, channel shift, horizontal flip;
    output scaled to [0, 1]."""
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=15, scale=(0.8, 1.2)),
        v2.ToDtype(torch.float32, scale=True),
        v2.ColorJitter(brightness=0.2),
        ChannelShift(0.08),
    ])


def light_transform(size: int) -> v2.Compose:
    """Flips, a random crop of 60-100 % of the face (framing varies between datasets and detectors) and mild
    brightness/contrast jitter; no rotation, whose resampling blurs the pixel-level artefacts."""
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.9, 1.1), antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
    ])


class Degrade(v2.Transform):
    """Identical processing for real and fake, whatever their source: every uint8 face is downscaled by a random
    factor and back (sources differ in resolution), re-encoded as JPEG at a random quality (they differ in
    compression) and, with probability ``p_border``, given a black border band on random sides (tight source photos
    get zero padding from the crop margin, loose ones do not). None of this may tell real from fake."""

    def __init__(self, scale: tuple[float, float] = (0.35, 1.0), quality: tuple[int, int] = (40, 95),
                 p_border: float = 0.3, max_border: float = 0.2) -> None:
        super().__init__()
        self.scale, self.quality, self.p_border, self.max_border = scale, quality, p_border, max_border

    def make_params(self, flat_inputs: list) -> dict:
        return self.params_from(torch.rand(8).tolist())

    def params_from(self, g: Sequence[float]) -> dict:
        """Parameters from 8 uniform numbers in [0, 1) (``pack.py --degrade`` draws them from a seeded generator)."""
        return {"scale": self.scale[0] + g[0] * (self.scale[1] - self.scale[0]),
                "quality": int(self.quality[0] + g[1] * (self.quality[1] - self.quality[0])),
                "border": g[2] < self.p_border, "sides": [v < 0.5 for v in g[3:7]], "width": self.max_border * g[7]}

    def transform(self, inpt: torch.Tensor, params: dict) -> torch.Tensor:
        if not (isinstance(inpt, torch.Tensor) and inpt.dtype == torch.uint8 and inpt.ndim == 3):
            return inpt
        import cv2

        rgb = np.ascontiguousarray(inpt.permute(1, 2, 0).numpy())
        h, w = rgb.shape[:2]
        small = (max(8, round(w * params["scale"])), max(8, round(h * params["scale"])))
        rgb = cv2.resize(cv2.resize(rgb, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, params["quality"]])
        rgb = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]) if ok else rgb
        if params["border"]:
            b = max(1, round(params["width"] * h))
            for side, band in zip(params["sides"], (np.s_[:b], np.s_[h - b:], np.s_[:, :b], np.s_[:, w - b:])):
                if side:
                    rgb[band] = 0
        return torch.from_numpy(rgb).permute(2, 0, 1)


def robust_transform(size: int) -> v2.Compose:
    """:func:`light_transform` after :class:`Degrade`: for training on several sources of real and fake faces."""
    return v2.Compose([Degrade(), *light_transform(size).transforms])


def mixed_transform(size: int) -> v2.Compose:
    """:func:`light_transform`, with :class:`Degrade` first on half of the images: the model sees clean and degraded
    faces alike (a model trained on degraded faces only loses the subtle face-swap cues of clean ones)."""
    return v2.Compose([v2.RandomApply([Degrade()], p=0.5), *light_transform(size).transforms])


def flip_transform() -> v2.Compose:
    """Horizontal flips only: keeps the pixel-level artefacts that resampling (rotation, zoom) blurs away."""
    return v2.Compose([v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True)])


# --soften-reals: a softened real face is shrunk to this fraction of its side (drawn uniformly) and enlarged back
SOFTEN_FACTORS = (0.35, 0.8)


def soften(image: np.ndarray, factor: float) -> np.ndarray:
    """An ``(S, S, 3)`` uint8 image shrunk to ``factor`` of its side (area averaging) and enlarged back (bilinear):
    the same face with less fine detail, as an upscaled or downscaled photo has."""
    side = image.shape[0]
    small = max(2, round(side * factor))
    return cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (side, side),
                      interpolation=cv2.INTER_LINEAR)


# --cut-edges: a face of either class gets black fill over 1-4 of its borders (how many: CUT_BORDERS; which: drawn at
# random), each CUT_DEPTH of its side deep, as a face whose square runs past the photo's edge gets from
# detector.faces.crop_face: one or two borders for a face near a photo's side or corner, all four for a close-up
# portrait whose face fills the photo
CUT_DEPTH = (0.03, 0.3)
CUT_BORDERS = (0.4, 0.25, 0.1, 0.25)  # chance of 1, 2, 3 and 4 borders


def cut_edges(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An ``(S, S, 3)`` uint8 face crop with black fill over some of its borders: what the inference crop looks like
    when the photo's edge runs through the square the model sees. Drawn from ``rng`` alone, never from the label, so
    that in training a cut face is as often real as fake (of the synthetic-faces validation photos through the
    pipeline, 74 % of the real ones had only cut faces against 15 % of the fakes, and cutting a face lowered its
    score: README, "A face cut by the photo's edge reads as real")."""
    out = image.copy()
    side = image.shape[0]
    count = int(rng.choice(4, p=CUT_BORDERS)) + 1
    for border in rng.permutation(4)[:count]:  # 0 top, 1 bottom, 2 left, 3 right
        depth = max(1, round(side * float(rng.uniform(*CUT_DEPTH))))
        if border == 0:
            out[:depth] = 0
        elif border == 1:
            out[side - depth:] = 0
        elif border == 2:
            out[:, :depth] = 0
        else:
            out[:, side - depth:] = 0
    return out


class ArrayDataset(Dataset):
    """Images held in memory as ``(N, S, S, 3)`` uint8 -> ``(3, S, S)`` float in [0, 1] and a float label."""

    def __init__(self, x: np.ndarray, y: np.ndarray, transform: v2.Compose,
                 mean: tuple[float, ...] = (0.0, 0.0, 0.0), std: tuple[float, ...] = (1.0, 1.0, 1.0),
                 sbi_keypoints: np.ndarray | None = None, sbi_probability: float = 0.5,
                 soften_reals: float = 0.0, plain_background: float = 0.0,
                 keep_background: np.ndarray | None = None, sbi_detail: float = 0.0,
                 cut_edges: float = 0.0) -> None:
        self.x, self.y, self.transform = x, y, transform
        self.mean, self.std = mean, std
        # with keypoints, each real face is replaced by its self-blended pseudo-fake with this probability
        self.sbi_keypoints = sbi_keypoints
        self.sbi_probability = sbi_probability
        self.sbi_detail = sbi_detail  # chance a pseudo-fake's source is also resampled or sharpened
        # each real face (that stays real) is softened with this probability, before the augmentation, so that a
        # soft face is no sign of a fake (train/soften_probe.py measured that it was)
        self.soften_reals = soften_reals
        # each face of either class gets a flat background with this probability (train/background_probe.py measured
        # that a plain studio background read as fake); the segmenter is made in the worker that first needs it
        self.plain_background = plain_background
        self.keep_background = keep_background  # per face: True where its background is left as it is
        self._masks = None
        # each face of either class is cut by a simulated photo edge with this probability (cut_edges)
        self.cut_edges = cut_edges

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.x[i], float(self.y[i])
        if label == 0.0 and (self.sbi_keypoints is not None or self.soften_reals > 0):
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ())))  # follows torch's seeded RNG
            if self.sbi_keypoints is not None and rng.random() < self.sbi_probability:
                from train.sbi import self_blend

                image, _ = self_blend(image, self.sbi_keypoints[i], rng, self.sbi_detail)
                label = 1.0
            elif rng.random() < self.soften_reals:
                image = soften(image, float(rng.uniform(*SOFTEN_FACTORS)))
        if self.plain_background > 0:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ())))
            keep = self.keep_background is not None and bool(self.keep_background[i])
            if rng.random() < self.plain_background and not keep:
                image = self._plain(image, rng)
        if self.cut_edges > 0:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ())))
            if rng.random() < self.cut_edges:
                image = cut_edges(image, rng)
        img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        img = normalise(self.transform(img), self.mean, self.std)
        return img, torch.tensor(label)

    def _plain(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from train.background import PersonMasks, plain_background

        if self._masks is None:
            self._masks = PersonMasks()
        return plain_background(image, self._masks.mask(image), rng)

    def __getstate__(self) -> dict:  # the segmenter does not cross into worker processes
        return {**self.__dict__, "_masks": None}
