"""Video: evenly sampled frames, faces linked into tracks, one score per track.

Sampling N frames evenly over the clip (default 32) is the common protocol of DeepfakeBench, SBI and the DFDC
winners. Frames that will not be used are skipped without decoding (``grab``) or by seeking, and only the sampled
frames are kept, so memory is bounded by N whatever the clip's length; ``max_duration_s`` bounds the time spent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, WrongMediaError
from .faces import box_iou
from .limits import (AGGREGATIONS, DEFAULT_FRAMES, DEFAULT_MAX_DURATION_S, MAX_FRAMES,  # noqa: F401 (re-exported)
                     VIDEO_SUFFIXES)
from .results import FrameResult, Track
from .sniff import check_regular, kind_of

log = logging.getLogger(__name__)

_SEEK_GAP = 48  # beyond this many frames between samples, seek instead of grabbing


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def open_video(path: str | Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open a video with OpenCV, with a clear error for files that are not (readable) videos."""
    path = Path(path)
    check_regular(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path.name}: the file is empty (0 bytes).")
    kind = kind_of(path)
    if kind == "image":
        raise WrongMediaError(f"{path.name}: this is an image, not a video; analyse it as a photo.", "image")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        if kind == "video":
            raise InputError(f"{path.name}: the video container holds no video stream that can be decoded (audio "
                             "only, no frames, truncated, or an unsupported codec).")
        raise InputError(f"{path.name}: not a video that can be decoded (MP4, WebM, AVI, MOV, MKV).")
    info = VideoInfo(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                     float(cap.get(cv2.CAP_PROP_FPS) or 0.0), int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    if info.width <= 0 or info.height <= 0:
        cap.release()
        raise InputError(f"{path.name}: the file has no video stream.")
    if info.fps <= 0 or info.fps > 1000:
        info.fps = 25.0
    return cap, info


def sample_indices(frame_count: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly from the first to the last frame (fewer if the clip is shorter)."""
    if frame_count <= 0 or n <= 0:
        return []
    if n >= frame_count:
        return list(range(frame_count))
    return sorted({int(round(v)) for v in np.linspace(0, frame_count - 1, n)})


def read_frames(
    path: str | Path, n: int = DEFAULT_FRAMES, max_duration_s: float = DEFAULT_MAX_DURATION_S
) -> tuple[VideoInfo, Iterator[tuple[int, np.ndarray]], str]:
    """Return the clip's info, an iterator of ``(index, RGB frame)`` for the sampled frames, and a note (empty, or
    why fewer frames / a shorter window were used)."""
    if not 1 <= n <= MAX_FRAMES:
        raise InputError(f"Frames to sample must be between 1 and {MAX_FRAMES}, got {n}.")
    cap, info = open_video(path)
    note = ""
    usable = info.frame_count
    limit = int(max_duration_s * info.fps)
    if usable > limit:
        note = (f"Only the first {max_duration_s:.0f} s of this {info.duration_s:.0f} s video were analysed "
                f"(limit max_duration_s).")
        usable = limit
    if usable <= 0:
        cap.release()
        raise InputError(f"{Path(path).name}: the video has no frames that can be decoded.")
    wanted = sample_indices(usable, n)

    def frames() -> Iterator[tuple[int, np.ndarray]]:
        position = 0
        try:
            for index in wanted:
                if index - position > _SEEK_GAP:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                    position = index
                while position < index:
                    if not cap.grab():
                        return
                    position += 1
                ok, frame = cap.read()
                position += 1
                if not ok or frame is None:
                    return
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    return info, frames(), note


def _near(a: list[int], b: list[int]) -> bool:
    """Centres closer than half the larger box side: the same person moved between distant samples."""
    ca = (a[0] + a[2] / 2, a[1] + a[3] / 2)
    cb = (b[0] + b[2] / 2, b[1] + b[3] / 2)
    return float(np.hypot(ca[0] - cb[0], ca[1] - cb[1])) < 0.5 * max(a[2], a[3], b[2], b[3])


# Boxes of consecutive samples overlapping this much are the same person (else: centres close, see _near).
LINK_MIN_IOU = 0.2


def match_boxes(previous: list[list[int]], current: list[list[int]], min_iou: float = LINK_MIN_IOU
                ) -> dict[int, int]:
    """Which current box continues which previous one (``{current index: previous index}``): greedily by box
    overlap, largest first, then by centre distance; each box is used once. Video tracks and live people are both
    linked this way."""
    candidates = sorted(((box_iou(p, c), pi, ci) for pi, p in enumerate(previous) for ci, c in enumerate(current)),
                        reverse=True)
    matched: dict[int, int] = {}
    for overlap, pi, ci in candidates:
        if ci in matched or pi in matched.values():
            continue
        if overlap >= min_iou or _near(previous[pi], current[ci]):
            matched[ci] = pi
    return matched


def link_tracks(frames: list[FrameResult], min_iou: float = LINK_MIN_IOU) -> list[Track]:
    """Link faces of consecutive sampled frames into tracks (:func:`match_boxes` against each track's last box)."""
    tracks: list[Track] = []
    for frame in frames:
        matched = match_boxes([t.boxes[-1] for t in tracks], [f.box for f in frame.faces], min_iou)
        for fi, face in enumerate(frame.faces):
            if fi in matched:
                track = tracks[matched[fi]]
                track.frame_indices.append(frame.index)
                track.scores.append(face.score)
                track.boxes.append(list(face.box))
                track.confidences.append(face.detector_confidence)
                track.faces.append(face)
            else:
                tracks.append(Track(len(tracks), [frame.index], [face.score], [list(face.box)],
                                    confidences=[face.detector_confidence], faces=[face]))
    return tracks


# What makes a face track a person (measured on the clips of ../shared/data/videos, README "Videos"): seen in at
# least this share of the sampled frames, and in at least PERSON_MIN_FRAMES of them. The longest track always counts,
# so a clip whose one face is often missed still gets a verdict.
PERSON_MIN_SHARE = 0.3
PERSON_MIN_FRAMES = 3


def is_person(track: Track, frames_sampled: int, longest: int) -> bool:
    """Whether a track counts as a person: a background face (a mask, a poster) or a false detection seen in a few
    frames does not, and cannot decide a clip's verdict or appear as "Person N"."""
    if len(track.scores) >= longest:
        return True
    need = max(min(PERSON_MIN_FRAMES, frames_sampled), int(np.ceil(PERSON_MIN_SHARE * frames_sampled)))
    return len(track.scores) >= need


def aggregate(scores: list[float], rule: str = "mean") -> float:
    """A track's score from its per-frame P(fake).

    ``mean``: the average. ``median``: the middle frame, robust to a few bad crops. ``top25``: the mean of the most
    suspicious quarter of the frames (a manipulation visible in part of a clip). ``max``: the most suspicious frame.
    ``confident`` (after the DFDC winner's rule): when many frames are confidently fake (> 0.8; more than 40% of
    frames and more than a third of them) the mean of those; else when almost all (> 90%) are confidently real
    (< 0.2) the mean of those; else the plain mean.
    """
    if not scores:
        raise ValueError("No scores to aggregate.")
    if rule not in AGGREGATIONS:
        raise InputError(f"Unknown aggregation {rule!r}; choose from {', '.join(AGGREGATIONS)}.")
    arr = np.asarray(scores, dtype=np.float64)
    if rule == "max":
        return float(arr.max())
    if rule == "median":
        return float(np.median(arr))
    if rule == "top25":
        return float(np.sort(arr)[-max(1, int(np.ceil(len(arr) / 4))):].mean())
    if rule == "confident":
        n = len(arr)
        fake = arr[arr > 0.8]
        real = arr[arr < 0.2]
        if len(fake) > n / 2.5 and len(fake) > 11 * n / 32:
            return float(fake.mean())
        if len(real) > 0.9 * n:
            return float(real.mean())
    return float(arr.mean())
