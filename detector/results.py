"""Result dataclasses. The app, the CLI, the evaluation and the tests all consume these; ``to_dict`` is JSON-able."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .decision import Decision


@dataclass
class FaceResult:
    """One face: where it is, how confident the detector was, and P(fake)."""

    box: list[int]  # x, y, w, h of the face detector's box, in image pixels
    crop_box: list[int]  # x0, y0, side of the square the model saw
    detector_confidence: float
    score: float  # P(fake)
    label: str  # "real" / "fake" at the model's threshold, "uncertain" inside the checkpoint's uncertain band
    crop: np.ndarray | None = field(default=None, repr=False)  # (S, S, 3) uint8, not serialised
    heatmaps: dict[str, np.ndarray] | None = field(default=None, repr=False)  # name -> (S, S) in [0,1]
    at_edge: bool = False  # the square the model saw runs past the photo's edge (the face is cut by it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [int(v) for v in self.box],
            "crop_box": [int(v) for v in self.crop_box],
            "detector_confidence": round(float(self.detector_confidence), 4),
            "score": round(float(self.score), 6),
            "label": self.label,
            "at_edge": bool(self.at_edge),
            "heatmaps": sorted(self.heatmaps) if self.heatmaps else [],
        }


def deciding_faces(faces: list[FaceResult]) -> list[FaceResult]:
    """The faces that decide a photo's verdict: those the model saw whole, or every face when none was.

    A face cut by the photo's edge is still found, scored and shown, but it does not decide the photo while a whole
    face is there: on 2,000 OpenForensics validation photos through the app (``train/photo_rules.py``), the real
    faces cut by the edge were called fake 58 % of the time against 20 % for whole real faces (and cut faces were
    ranked at ROC AUC 0.59 against 0.95); letting only whole faces decide raised the photos' ROC AUC from 0.937 to
    0.959 and cut the real photos called fake from 31 % to 22 % (fakes called fake 98.1 % -> 97.8 %). Repeating the
    border into the cut part, or shifting the square inside the photo, did not help those faces (README, "Faces cut
    by the photo's edge")."""
    whole = [f for f in faces if not f.at_edge]
    return whole or faces


@dataclass
class ImageResult:
    """All faces of one image. ``score`` is the P(fake) of the most suspicious face among those that decide (see
    ``deciding_faces``); None when no face was found."""

    width: int
    height: int
    faces: list[FaceResult]
    score: float | None
    label: str  # "real", "uncertain", "fake" or "no face"
    threshold: float
    model: str
    whole_image: bool = False
    message: str = ""
    faces_dropped: int = 0  # faces beyond the per-image limit
    uncertain_band: list[float] | None = None  # [lo, hi): scores reported as "uncertain"

    @property
    def decision(self) -> Decision:
        """The decision these labels were given by (threshold and band; colours follow its ``kind``)."""
        return Decision(self.threshold, None if self.uncertain_band is None else tuple(self.uncertain_band))

    @property
    def top_face(self) -> int | None:
        """Index of the face whose score is the photo's (the most suspicious deciding face); None without faces."""
        deciding = deciding_faces(self.faces)
        if not deciding:
            return None
        top = max(deciding, key=lambda f: f.score)
        return next(i for i, f in enumerate(self.faces) if f is top)  # by identity: faces hold numpy arrays

    def decides(self, face: FaceResult) -> bool:
        """Whether ``face`` is among the faces that decide this photo's verdict."""
        return any(face is f for f in deciding_faces(self.faces))

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "faces"}
        data["score"] = None if self.score is None else round(float(self.score), 6)
        data["n_faces"] = len(self.faces)
        data["faces"] = [f.to_dict() for f in self.faces]
        return data


@dataclass
class FrameResult:
    """One sampled frame: its faces' scores (empty when no face was found)."""

    index: int
    time_s: float
    faces: list[FaceResult]

    @property
    def score(self) -> float | None:
        return max((f.score for f in self.faces), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "time_s": round(self.time_s, 3), "n_faces": len(self.faces),
                "score": None if self.score is None else round(float(self.score), 6),
                "faces": [f.to_dict() for f in self.faces]}


@dataclass
class Evidence:
    """One of a person's most suspicious sampled faces: where and when, with its crop and Grad-CAM maps."""

    frame_index: int
    time_s: float
    face: FaceResult

    def to_dict(self) -> dict[str, Any]:
        return {"frame_index": self.frame_index, "time_s": round(self.time_s, 3), "score": round(self.face.score, 6),
                "box": [int(v) for v in self.face.box], "heatmaps": sorted(self.face.heatmaps or [])}


@dataclass
class Track:
    """One person across frames, linked by box overlap. ``faces`` are the person's face results, frame by frame;
    ``evidence`` their most suspicious faces with heatmaps, filled by ``Detector.analyze_video(explain=k)``."""

    id: int
    frame_indices: list[int]
    scores: list[float]
    boxes: list[list[int]]
    score: float = 0.0
    label: str = ""
    confidences: list[float] = field(default_factory=list)  # the face detector's, per frame
    faces: list[FaceResult] = field(default_factory=list, repr=False)
    evidence: list[Evidence] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "n_frames": len(self.frame_indices), "frame_indices": self.frame_indices,
                "scores": [round(float(s), 6) for s in self.scores], "boxes": self.boxes,
                "confidences": [round(float(c), 4) for c in self.confidences],
                "score": round(float(self.score), 6), "label": self.label,
                "evidence": [e.to_dict() for e in self.evidence]}


@dataclass
class VideoResult:
    """A clip: the verdict is that of its most suspicious track."""

    name: str  # file name of the clip (no folder)
    width: int
    height: int
    fps: float
    duration_s: float
    frame_count: int
    frames: list[FrameResult]
    tracks: list[Track]
    score: float | None
    label: str
    threshold: float
    model: str
    aggregation: str
    frames_without_face: list[int]
    message: str = ""
    uncertain_band: list[float] | None = None  # [lo, hi): scores reported as "uncertain"
    top_track: int | None = None  # id of the track (person) whose aggregated score is the video's
    tracks_dropped: int = 0  # face tracks too brief or too faint to count as a person (see video.is_person)

    @property
    def decision(self) -> Decision:
        """The decision these labels were given by (threshold and band; colours follow its ``kind``)."""
        return Decision(self.threshold, None if self.uncertain_band is None else tuple(self.uncertain_band))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "width": self.width, "height": self.height, "fps": round(self.fps, 3),
            "duration_s": round(self.duration_s, 3), "frame_count": self.frame_count,
            "frames_sampled": len(self.frames),
            "score": None if self.score is None else round(float(self.score), 6), "label": self.label,
            "threshold": self.threshold, "model": self.model, "aggregation": self.aggregation,
            "frames_without_face": self.frames_without_face, "message": self.message,
            "uncertain_band": self.uncertain_band, "top_track": self.top_track,
            "tracks_dropped": self.tracks_dropped,
            "tracks": [t.to_dict() for t in self.tracks], "frames": [f.to_dict() for f in self.frames],
        }
