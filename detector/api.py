"""The one facade: ``Detector.from_pretrained(...)`` -> ``analyze_image`` / ``analyze_video``.

The app, the CLI and the evaluation all go through this object, so they crop, scale, batch and aggregate in exactly
the same way.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import video_folder
from .config import Preprocessing
from .decision import Decision
from .errors import CheckpointError, InputError
from .explain import gradcam_maps
from .faces import (
    Face,
    FaceFinder,
    crop_box,
    crop_face,
    crop_inside,
    crop_square,
    pad_to_square,
    reading_order,
    resize_square,
)
from .images import ImageInput, load_image
from .limits import DEFAULT_MAX_FACES, DEFAULT_MAX_PIXELS
from .live import LiveFrame, LiveSession
from .live import stream as live_stream
from .model import FusionDetector
from .results import Evidence, FaceResult, FrameResult, ImageResult, VideoResult, deciding_faces
from .runtime import Runtime
from .video import DEFAULT_MAX_DURATION_S, aggregate, is_person, link_tracks, read_frames

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "models" / "default"
_BATCH = 32


def default_model_path() -> Path:
    """The bundled checkpoint (``$DEEPFAKE_DEFAULT_MODEL`` overrides it)."""
    return Path(os.environ.get("DEEPFAKE_DEFAULT_MODEL", DEFAULT_MODEL_DIR))


class Detector:
    """Faces -> crops -> fusion model -> P(fake), with optional Grad-CAM evidence.

    Args:
        model: a loaded :class:`FusionDetector`.
        min_face_confidence: MediaPipe detection threshold.
        device: ``"cpu"``, ``"cuda"``... (default: CUDA when available).
        max_faces: faces analysed per image (the most confident first); the rest are counted, not scored.
        max_pixels: larger images are refused before decoding.
        max_duration_s: only this much of a longer video is sampled.
        precision: ``"auto"`` (fp16 on CUDA; bf16 autocast on CPUs with native bf16, measured to keep ROC AUC
            within 0.005 of fp32, see README "Speed", unless a backbone is slower in bf16, as EfficientNet-Lite's
            depthwise convolutions are), ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only).
            Grad-CAM always runs in fp32. On the CPU, scoring runs on a copy of the model with BatchNorm folded into
            the convolutions and each batch split across the cores (:class:`~detector.fast.FastScorer`), taken when
            the Detector is built: build a new Detector after changing the model's weights.
        backend: ``"auto"`` (on the CPU: ONNX Runtime where it gives the same scores within 1e-4 and is measured
            faster on this machine, else PyTorch; see :mod:`detector.runtime`), ``"torch"`` or ``"onnx"``. Grad-CAM
            always runs on PyTorch.
        video_model: a second model for videos (a checkpoint's ``video/`` subfolder, see :meth:`from_pretrained`):
            :meth:`analyze_video` then scores with it and judges with its decisions; photos and live streams (judged
            face by face as frames arrive, with the per-face decision) stay with ``model``. ``self.video`` is the
            Detector that scores videos (``self`` when there is no second model).
    """

    def __init__(
        self,
        model: FusionDetector,
        min_face_confidence: float = 0.5,
        device: str | None = None,
        max_faces: int = DEFAULT_MAX_FACES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_duration_s: float = DEFAULT_MAX_DURATION_S,
        precision: str = "auto",
        backend: str = "auto",
        video_model: FusionDetector | None = None,
    ) -> None:
        self.runtime = Runtime(model, device, precision, batch=_BATCH, backend=backend)
        self.device, self.precision, self.model = self.runtime.device, self.runtime.precision, self.runtime.model
        self.pre: Preprocessing = model.preprocessing
        self.faces = FaceFinder(min_face_confidence)
        self._finders: dict[float, FaceFinder] = {round(float(min_face_confidence), 3): self.faces}
        self.max_faces = int(max_faces)
        self.max_pixels = int(max_pixels)
        self.max_duration_s = float(max_duration_s)
        self._lock = threading.Lock()  # one forward/Grad-CAM at a time per model (hooks are per-module)
        self.video: Detector = self
        self._for_videos = False
        if video_model is not None:
            self.video = Detector(video_model, min_face_confidence, device, max_faces, max_pixels, max_duration_s,
                                  precision, backend)
            self.video.faces, self.video._finders = self.faces, self._finders  # one face finder for both
            self.video._for_videos = True

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike | None = None, require_hash: bool | None = None,
                        **kwargs: object) -> Detector:
        """Load a checkpoint folder or Hub repo id; ``None`` loads the bundled default model. ``require_hash``: see
        :meth:`FusionDetector.from_pretrained` (checkpoints from elsewhere must record their weights' SHA-256). A
        checkpoint whose config says ``"video_model": "video"`` carries a second checkpoint in its ``video/``
        subfolder, chosen on video clips, which scores videos (``train/video_model.py`` puts one
        there); it is loaded, and its hash checked, the same way."""
        if name_or_path is None:
            name_or_path = default_model_path()
            if not (Path(name_or_path) / "model.safetensors").is_file():
                raise CheckpointError(
                    f"No bundled default model at {name_or_path}. Pass a checkpoint folder or Hub repo id "
                    "(--model), or train one with `python train/fit.py` (see README)."
                )
        model = FusionDetector.from_pretrained(name_or_path, require_hash=require_hash)
        return cls(model, video_model=video_model_of(model, require_hash), **kwargs)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        """The members (``efficientnet_lite0+efficientnet_lite2``), with "(model for videos)" for a checkpoint's
        second model, so a video's result says which model scored it."""
        return f"{self.model.name} (model for videos)" if self._for_videos else self.model.name

    @property
    def scope(self) -> str | None:
        """One line from the checkpoint's config: what the model was trained on and what it is known not to cover
        (measured; written by ``train/model_card.py --scope``). None when the checkpoint does not say."""
        scope = getattr(self.model, "checkpoint_info", {}).get("scope")  # read with the config at load time
        return scope if isinstance(scope, str) and scope.strip() else None

    # ------------------------------------------------------------------------------------------------ scoring
    def to_tensor(self, crops: np.ndarray) -> torch.Tensor:
        """``(N, S, S, 3)`` uint8 -> normalised ``(N, 3, S, S)`` float tensor on the model's device."""
        return self.runtime.to_tensor(crops)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """Fake logits (before the sigmoid) for ``(N, S, S, 3)`` uint8 crops, batched, on this Detector's runtime."""
        with self._lock:
            return self.runtime.logits(crops)

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        """P(fake) for ``(N, S, S, 3)`` uint8 crops, batched."""
        return torch.sigmoid(torch.from_numpy(self.logits(crops))).numpy()

    def explain_crops(self, crops: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Grad-CAM maps per backbone plus the fused map, for each crop."""
        if len(crops) == 0:
            return []
        with self._lock:
            x = self.to_tensor(crops).contiguous()
            return gradcam_maps(self.model, x)

    def decision(self, threshold: float | None = None, clip: bool = False) -> Decision:
        """The checkpoint's decision (``clip``: the clip-level one), with a caller's own threshold if given (the band
        widened to hold it). Every label this Detector gives comes from it."""
        return self.pre.decision(clip).at(threshold)

    def band(self, threshold: float | None = None, clip: bool = False) -> tuple[float, float] | None:
        """The uncertain band of :meth:`decision`; None when the checkpoint has none."""
        return self.decision(threshold, clip).band

    def label_for(self, score: float | None, threshold: float | None = None, clip: bool = False) -> str:
        """``real`` / ``fake`` at the threshold, ``uncertain`` inside the checkpoint's band, ``no face`` for None.
        ``clip``: a person's aggregated score in a video, judged by the checkpoint's clip-level calibration."""
        return self.decision(threshold, clip).label(score)

    def _finder(self, min_face_confidence: float | None) -> FaceFinder:
        if min_face_confidence is None:
            return self.faces
        key = round(float(min_face_confidence), 3)
        if not 0.0 < key < 1.0:
            raise InputError(f"Face-detector confidence must be between 0 and 1, got {min_face_confidence}.")
        if key not in self._finders:
            self._finders[key] = FaceFinder(key)
        return self._finders[key]

    def _geometry(self, crop_margin: float | None) -> Preprocessing:
        if crop_margin is None:
            return self.pre
        try:
            return replace(self.pre, crop_margin=float(crop_margin))
        except ValueError as exc:
            raise InputError(str(exc)) from exc

    # ------------------------------------------------------------------------------------------------ images
    def _faces_of(self, rgb: np.ndarray, tiles: bool = True, finder: FaceFinder | None = None
                  ) -> tuple[list[Face], int]:
        found = (finder or self.faces).detect(rgb, tiles=tiles)
        keep = sorted(found, key=lambda f: -f.confidence)[: self.max_faces]
        return reading_order(keep), len(found) - len(keep)  # numbered as a person reads the photo

    def _score_faces(self, rgb: np.ndarray, faces: list[Face], explain: bool, threshold: float | None,
                     keep_crops: bool, pre: Preprocessing) -> list[FaceResult]:
        if not faces:
            return []
        crops = np.stack([crop_face(rgb, f.box, pre) for f in faces])
        scores = self.score_crops(crops)
        maps = self.explain_crops(crops) if explain else [None] * len(faces)
        h, w = rgb.shape[:2]
        results = []
        for f, s, crop, m in zip(faces, scores, crops, maps):
            results.append(FaceResult(list(f.box), list(crop_square(f.box, pre, w, h)), f.confidence, float(s),
                                      self.label_for(float(s), threshold), crop if (keep_crops or explain) else None,
                                      m, at_edge=not crop_inside(crop_box(f.box, pre), w, h)))
        return results

    def analyze_image(
        self,
        image: ImageInput,
        explain: bool = False,
        whole_image: bool = False,
        threshold: float | None = None,
        keep_crops: bool = False,
        min_face_confidence: float | None = None,
        crop_margin: float | None = None,
        name: str | None = None,
    ) -> ImageResult:
        """Find and score every face. ``whole_image=True`` scores the image itself as one face crop (for
        pre-cropped faces). No face found is a normal result (``label == "no face"``, ``score is None``).
        ``min_face_confidence`` and ``crop_margin`` override the detector's and the checkpoint's settings; ``name``
        is how error messages call the input (default: its file name)."""
        _check_threshold(threshold)
        pre = self._geometry(crop_margin)
        finder = self._finder(min_face_confidence)
        rgb = load_image(image, self.max_pixels)
        h, w = rgb.shape[:2]
        if min(h, w) < 2:
            raise InputError(f"{name or _display_name(image)}: the image is only {w}x{h} pixels; nothing can be "
                             "analysed.")
        dropped = 0
        message = ""
        if whole_image:
            square, x0, y0 = pad_to_square(rgb)
            side = square.shape[0]
            crop = resize_square(square, self.pre.img_size)
            score = float(self.score_crops(crop[None])[0])
            maps = self.explain_crops(crop[None])[0] if explain else None
            faces = [FaceResult([0, 0, w, h], [-x0, -y0, side], 1.0, score, self.label_for(score, threshold),
                                crop, maps)]
            if not finder.detect(rgb, tiles=False):  # say it when the verdict is about an image without a face
                message = ("No face was detected in this image: the score is for the whole image analysed as if it "
                           "were one face crop, which is only meaningful for an already-cropped face.")
        else:
            found, dropped = self._faces_of(rgb, finder=finder)
            faces = self._score_faces(rgb, found, explain, threshold, keep_crops, pre)
            if not faces:
                message = "No face was found."
            elif dropped:
                message = f"{dropped} more faces were found but not analysed (limit max_faces={self.max_faces})."
        score = max((f.score for f in deciding_faces(faces)), default=None)
        decision = self.decision(threshold)
        return ImageResult(w, h, faces, score, decision.label(score), decision.threshold, self.name, whole_image,
                           message, dropped, decision.band_list)

    # ------------------------------------------------------------------------------------------------ streams
    def score_frame(self, rgb: np.ndarray, min_face_confidence: float | None = None,
                    crop_margin: float | None = None) -> list[FaceResult]:
        """Every face of one video frame, scored (no tiled search, no heatmaps: the fast path of live streams)."""
        found, _ = self._faces_of(rgb, tiles=False, finder=self._finder(min_face_confidence))
        return self._score_faces(rgb, found, False, None, False, self._geometry(crop_margin))

    def stream(self, frames: Iterable[np.ndarray], min_face_confidence: float | None = None,
               crop_margin: float | None = None, **tracker: Any) -> Iterator[LiveFrame]:
        """Per-person verdicts over a stream of RGB frames (a webcam, a replayed clip), one :class:`LiveFrame` per
        frame: each person's smoothed P(fake) and a verdict that settles as evidence builds up (see
        :mod:`detector.live`; ``tracker`` keywords go to :class:`~detector.live.LiveTracker`)."""
        return live_stream(LiveSession(self, **tracker), frames, min_face_confidence, crop_margin)

    # ------------------------------------------------------------------------------------------------ videos
    def analyze_video(
        self,
        path: str | os.PathLike,
        frames: int | None = None,
        aggregation: str | None = None,
        threshold: float | None = None,
        max_duration_s: float | None = None,
        keep_crops: bool = False,
        progress: Callable[[int, int], None] | None = None,
        min_face_confidence: float | None = None,
        crop_margin: float | None = None,
        explain: int = 0,
    ) -> VideoResult:
        """Sample ``frames`` frames (default: the checkpoint's ``video_frames``) evenly, score every face, link faces
        into tracks and aggregate each track (``aggregation``, default: the checkpoint's ``video_aggregation``).
        Only tracks that count as a person (:func:`~detector.video.is_person`: seen often enough) are reported; the
        video's score is that of its most suspicious person, labelled by the checkpoint's clip-level threshold and
        band (``threshold`` overrides the threshold). ``explain=k``: each person's ``evidence`` holds their k most
        suspicious faces with crops and Grad-CAM maps (the one place evidence frames are chosen; ``progress`` then
        counts them after the frames). With a model for videos (:attr:`video`), that model does all of this, with its
        own aggregation and clip calibration."""
        if self.video is not self:
            return self.video.analyze_video(path, frames, aggregation, threshold, max_duration_s, keep_crops, progress,
                                            min_face_confidence, crop_margin, explain)
        aggregation = self.pre.video_aggregation if aggregation is None else aggregation
        aggregate([0.0], aggregation)  # validate the rule before decoding anything
        frames = self.pre.video_frames if frames is None else frames
        _check_threshold(threshold)
        pre = self._geometry(crop_margin)
        finder = self._finder(min_face_confidence)
        limit = self.max_duration_s if max_duration_s is None else float(max_duration_s)
        info, sampled, note = read_frames(path, frames, limit)
        results: list[FrameResult] = []
        pending: list[tuple[int, np.ndarray | None, list[Face], tuple[int, int]]] = []
        total = min(frames, max(1, info.frame_count))
        keep_crops = keep_crops or explain > 0
        for done, (index, rgb) in enumerate(sampled, start=1):
            found, _ = self._faces_of(rgb, tiles=False, finder=finder)
            pending.append((index, np.stack([crop_face(rgb, f.box, pre) for f in found]) if found else None,
                            found, rgb.shape[:2]))
            if progress:
                progress(done, total)
        if not pending:
            raise InputError(f"{Path(path).name}: no frame could be decoded (the file may be truncated).")
        all_crops = [c for _, c, _, _ in pending if c is not None]
        scores = self.score_crops(np.concatenate(all_crops)) if all_crops else np.zeros(0)
        k = 0
        for index, crops, found, (h, w) in pending:
            faces = []
            for j, f in enumerate(found):
                s = float(scores[k])
                k += 1
                faces.append(FaceResult(list(f.box), list(crop_square(f.box, pre, w, h)), f.confidence, s,
                                        self.label_for(s, threshold), crops[j] if keep_crops else None,
                                        at_edge=not crop_inside(crop_box(f.box, pre), w, h)))
            results.append(FrameResult(index, index / info.fps, faces))
        linked = link_tracks(results)
        longest = max((len(t.scores) for t in linked), default=0)
        tracks = [t for t in linked if is_person(t, len(results), longest)]
        clip = self.decision(threshold, clip=True)
        for number, track in enumerate(tracks):  # persons numbered 1, 2... in order of first appearance (as shown)
            track.id = number + 1
            track.score = aggregate(track.scores, aggregation)
            track.label = clip.label(track.score)
        top = max(tracks, key=lambda t: t.score, default=None)
        no_face = [r.index for r in results if not r.faces]
        if len(results) < min(frames, info.frame_count):
            extra = f"Only {len(results)} of the requested frames could be decoded (the file may be truncated)."
            note = f"{note} {extra}".strip()
        if top is None:
            note = f"{note} No face was found in any sampled frame.".strip()
        if explain > 0:
            self._explain_tracks(tracks, results, int(explain), progress, len(pending))
        return VideoResult(str(Path(path).name), info.width, info.height, info.fps, info.duration_s,
                           info.frame_count, results, tracks, None if top is None else top.score,
                           clip.label(None if top is None else top.score), clip.threshold, self.name, aggregation,
                           no_face, note, clip.band_list, None if top is None else top.id, len(linked) - len(tracks))

    def _explain_tracks(self, tracks: list, frames: list[FrameResult], k: int,
                        progress: Callable[[int, int], None] | None, done: int) -> None:
        """Each person's ``k`` most suspicious faces, with Grad-CAM maps, as their ``evidence``."""
        time_of = {f.index: f.time_s for f in frames}
        picks = [(track, index, face) for track in tracks
                 for index, face in sorted(zip(track.frame_indices, track.faces), key=lambda p: -p[1].score)[:k]
                 if face.crop is not None]
        for n, (track, index, face) in enumerate(picks):
            if progress:
                progress(done + n, done + len(picks))
            face.heatmaps = self.explain_crops(face.crop[None])[0]
            track.evidence.append(Evidence(index, time_of.get(index, 0.0), face))


def video_model_of(model: FusionDetector, require_hash: bool | None = None) -> FusionDetector | None:
    """The model for videos that a loaded checkpoint names (its ``video/`` subfolder), loaded and checked the same
    way; None when it names none."""
    info = getattr(model, "checkpoint_info", {})
    sub = video_folder(Path(info["folder"]), info) if info.get("folder") else None
    if sub is None:
        return None
    video = FusionDetector.from_pretrained(sub, require_hash=require_hash)
    if "video_model" in video.checkpoint_info:
        raise CheckpointError(f"{sub}: a checkpoint for videos cannot name one of its own.")
    return video


def _display_name(image: ImageInput) -> str:
    """How an error names the input: a file's name, else what kind of input it was."""
    if isinstance(image, (str, os.PathLike)):
        return Path(image).name
    return "the image array" if isinstance(image, np.ndarray) else "the image"


def _check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0.0 < float(threshold) < 1.0:
        raise InputError(f"The decision threshold must be strictly between 0 and 1, got {threshold}.")

