"""Preprocessing that belongs to a checkpoint.

Training and inference both read crop geometry, input size, pixel scaling, threshold and class names from the
checkpoint's ``config.json`` (key ``preprocessing``), so the crops a model sees at inference are made exactly like
the crops it was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .decision import Decision
from .errors import ConfigError
from .limits import AGGREGATIONS, DEFAULT_FRAMES, MAX_FRAMES

# Calibrated against ../shared/data/dfdc-faces with `python train/calibrate_crops.py` (README, "Crop geometry"):
# a training crop located exactly in its source video's frame is 1.13 MediaPipe full-range box sides wide and its
# centre sits 0.076 box sides below the box centre; on 157 crops where the full-range model fires, crop / box is
# 1.23 (faces touching the border inflate it). 1.15 / 0.07 sits between the two.
DEFAULT_CROP_MARGIN = 1.15
DEFAULT_CROP_SHIFT_Y = 0.07


@dataclass
class Preprocessing:
    """How a face becomes a model input."""

    img_size: int = 256
    # Pixels are divided by 255 (the report's [0,1] scaling); mean/std allow ImageNet-style normalisation too.
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    # Crop side = detector box side (square on its longer side) x crop_margin, centred on the box.
    crop_margin: float = DEFAULT_CROP_MARGIN
    # Vertical shift of the crop centre, as a fraction of the box side (positive = down).
    crop_shift_y: float = DEFAULT_CROP_SHIFT_Y
    # A face whose square runs past the photo's edge (a close-up, a face at the side): False: the part outside is
    # black fill; True: the square is moved inside the photo (and shrunk to its shorter side when larger), so the
    # model sees no fill (detector.faces.crop_square). The face still counts as cut by the edge (at_edge).
    crop_inside: bool = False
    # Each face crop is encoded as JPEG at this quality and decoded again just before it is scored (and explained),
    # as every training crop was packed (train/pack.py --quality 60-95): a clean crop and a compressed one then
    # reach the model with a compression history. None: scored as cropped.
    jpeg_quality: int | None = None
    threshold: float = 0.5
    class_names: tuple[str, str] = field(default=("real", "fake"))
    # Scores in [lo, hi) are reported as "uncertain" instead of real/fake (chosen on the validation split by
    # train/calibrate.py); None: every score gets a verdict at the threshold.
    uncertain_band: tuple[float, float] | None = None
    # Frames a video is sampled at when the caller does not say (app, CLI, library).
    video_frames: int = DEFAULT_FRAMES
    # Clip-level decision, chosen on validation clips (train/calibrate_clips.py), apart from the per-face one: how a
    # person's frame scores become one score, and the threshold and uncertain band for that score. None: the
    # per-face threshold and band.
    video_aggregation: str = "mean"
    video_threshold: float | None = None
    video_uncertain_band: tuple[float, float] | None = None
    # Each member's own input normalisation, applied inside the model (and so inside its ONNX graph) after the
    # [0,1] scaling above: ``[{"backbone": name, "mean": [...], "std": [...]}]`` in the order of the backbones.
    # Written from the backbone registry when a model is built; a checkpoint that states it is read as stated.
    members: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self.mean = tuple(float(v) for v in self.mean)  # type: ignore[assignment]
        self.std = tuple(float(v) for v in self.std)  # type: ignore[assignment]
        self.class_names = tuple(self.class_names)  # type: ignore[assignment]
        if not 32 <= int(self.img_size) <= 1024:
            raise ConfigError(f"img_size must be between 32 and 1024 pixels, got {self.img_size}.")
        self.img_size = int(self.img_size)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError("mean and std need three values each, std > 0.")
        if not 0.5 <= float(self.crop_margin) <= 4.0:
            raise ConfigError(f"crop_margin must be between 0.5 and 4.0, got {self.crop_margin}.")
        if not isinstance(self.crop_inside, bool):
            raise ConfigError(f"crop_inside must be true or false, got {self.crop_inside!r}.")
        if self.jpeg_quality is not None:
            if isinstance(self.jpeg_quality, bool) or not 1 <= int(self.jpeg_quality) <= 100:
                raise ConfigError(f"jpeg_quality must be between 1 and 100 (or null), got {self.jpeg_quality}.")
            self.jpeg_quality = int(self.jpeg_quality)
        if len(self.class_names) != 2:
            raise ConfigError(f"class_names must be two names (real, fake), got {self.class_names}.")
        try:
            photo = Decision(self.threshold, self.uncertain_band, self.class_names)  # validates the three together
        except ConfigError as exc:
            raise ConfigError(f"threshold / uncertain_band / class_names: {exc}") from None
        self.threshold, self.uncertain_band = photo.threshold, photo.band  # type: ignore[assignment]
        if self.video_aggregation not in AGGREGATIONS:
            raise ConfigError(f"video_aggregation must be one of {', '.join(AGGREGATIONS)}, got "
                              f"{self.video_aggregation!r}.")
        if self.video_threshold is not None:
            self.video_threshold = float(self.video_threshold)
            if not 0.0 < self.video_threshold < 1.0:
                raise ConfigError(f"video_threshold must be strictly between 0 and 1, got {self.video_threshold}.")
        if self.video_uncertain_band is not None:
            try:
                clip = Decision(self.clip_threshold, self.video_uncertain_band, self.class_names)
            except ConfigError as exc:
                raise ConfigError(f"video_threshold / video_uncertain_band (clip level): {exc}") from None
            self.video_uncertain_band = clip.band  # type: ignore[assignment]
        if not 1 <= int(self.video_frames) <= MAX_FRAMES:
            raise ConfigError(f"video_frames must be between 1 and {MAX_FRAMES}, got {self.video_frames}.")
        self.video_frames = int(self.video_frames)
        if self.members is not None:
            members = []
            for m in self.members:
                if not isinstance(m, dict) or set(m) != {"backbone", "mean", "std"} or len(m["mean"]) != 3 \
                        or len(m["std"]) != 3 or min(float(v) for v in m["std"]) <= 0:
                    raise ConfigError(f"members must be [{{backbone, mean[3], std[3] > 0}}, ...], got {m!r}.")
                members.append({"backbone": str(m["backbone"]), "mean": [float(v) for v in m["mean"]],
                                "std": [float(v) for v in m["std"]]})
            self.members = members

    @property
    def clip_threshold(self) -> float:
        """The threshold a clip's score is judged at: the clip-level one where calibrated, else the per-face one."""
        return self.threshold if self.video_threshold is None else self.video_threshold

    @property
    def clip_band(self) -> tuple[float, float] | None:
        """The clip-level uncertain band where calibrated; else the per-face band."""
        if self.video_threshold is None and self.video_uncertain_band is None:
            return self.uncertain_band
        return self.video_uncertain_band

    def decision(self, clip: bool = False) -> Decision:
        """The per-face decision, or (``clip``) the one a person's aggregated score in a video is judged by."""
        if clip:
            return Decision(self.clip_threshold, self.clip_band, self.class_names)
        return Decision(self.threshold, self.uncertain_band, self.class_names)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Preprocessing:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown preprocessing keys {unknown}; valid keys are {sorted(known)}.")
        return cls(**data)
