"""Live streams: per-person verdicts that settle as evidence builds up, instead of flickering frame to frame.

A :class:`LiveTracker` links each frame's faces to the people already seen (box overlap, then centre distance, as
video tracks are linked), keeps an exponential moving average of each person's P(fake), and gives a verdict only
once a person has been seen in ``min_frames`` frames ("uncertain" before: the evidence is thin). A verdict changes
only when the average moves past a decision boundary by ``hysteresis``, so a score hovering at the threshold does not
flip the badge. ``Detector.stream(frames)`` runs it over any iterable of RGB frames; the app's Live tab and the CLI's
``--stream`` use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .results import FaceResult
from .video import match_boxes


@dataclass
class LivePerson:
    """One person in a stream: this frame's face and score, and the smoothed evidence so far."""

    id: int  # 1, 2... in order of first appearance
    box: list[int]
    score: float  # this frame's P(fake)
    smoothed: float  # exponential moving average of P(fake)
    frames: int  # frames this person was scored in
    label: str  # "real" / "uncertain" / "fake" from the smoothed score; "uncertain" while frames < min_frames

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "box": [int(v) for v in self.box], "score": round(float(self.score), 6),
                "smoothed": round(float(self.smoothed), 6), "frames": self.frames, "label": self.label}


@dataclass
class LiveFrame:
    """The result of one processed frame."""

    index: int
    persons: list[LivePerson]
    latency_ms: float  # detection + scoring of this frame
    fps: float  # frames processed per second, averaged over the recent frames
    label: str  # the most suspicious person's label ("no face" when nobody is seen)
    score: float | None = None  # the most suspicious person's smoothed score

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "latency_ms": round(self.latency_ms, 1), "fps": round(self.fps, 2),
                "label": self.label, "score": None if self.score is None else round(float(self.score), 6),
                "persons": [p.to_dict() for p in self.persons]}


@dataclass
class _Person:
    id: int
    box: list[int]
    smoothed: float
    frames: int = 1
    missing: int = 0
    label: str = "uncertain"


class LiveTracker:
    """Per-person smoothing of P(fake) over a stream.

    Args:
        label_for: ``score -> label`` (the Detector's, with its threshold and uncertain band).
        alpha: weight of the newest frame in the moving average (0.25: about the last 7 frames count).
        min_frames: frames a person must be seen in before a verdict other than "uncertain".
        hysteresis: how far past a boundary the average must move before a verdict changes.
        max_missing: frames a person may go unseen before being forgotten.
    """

    def __init__(self, label_for: Callable[[float], str], alpha: float = 0.25, min_frames: int = 5,
                 hysteresis: float = 0.04, max_missing: int = 15) -> None:
        self.label_for, self.alpha, self.min_frames = label_for, alpha, min_frames
        self.hysteresis, self.max_missing = hysteresis, max_missing
        self.people: list[_Person] = []
        self._next = 1

    def _verdict(self, person: _Person) -> str:
        if person.frames < self.min_frames:
            return "uncertain"
        low, high = self.label_for(person.smoothed - self.hysteresis), self.label_for(person.smoothed + self.hysteresis)
        return low if low == high else person.label  # near a boundary: keep the verdict it had

    def update(self, faces: list[FaceResult]) -> list[LivePerson]:
        """Fold one frame's scored faces in; the people seen in this frame, in order of first appearance."""
        matched = match_boxes([p.box for p in self.people], [f.box for f in faces])
        known = list(self.people)
        seen: list[LivePerson] = []
        for fi, face in enumerate(faces):
            if fi in matched:
                person = known[matched[fi]]
                person.smoothed = (1 - self.alpha) * person.smoothed + self.alpha * float(face.score)
                person.frames += 1
            else:
                person = _Person(self._next, list(face.box), float(face.score))
                self._next += 1
                self.people.append(person)
            person.box, person.missing = list(face.box), 0
            person.label = self._verdict(person)
            seen.append(LivePerson(person.id, list(face.box), float(face.score), person.smoothed, person.frames,
                                   person.label))
        present = {p.id for p in seen}
        for person in self.people:
            if person.id not in present:
                person.missing += 1
        self.people = [p for p in self.people if p.missing <= self.max_missing]
        return sorted(seen, key=lambda p: p.id)


def frame_label(persons: list[LivePerson]) -> tuple[str, float | None]:
    """The frame's headline: its most suspicious person (by smoothed score)."""
    if not persons:
        return "no face", None
    top = max(persons, key=lambda p: p.smoothed)
    return top.label, top.smoothed


class LiveSession:
    """One stream (a webcam, a replayed clip): the tracker of its people, and the pace at which frames are done.
    ``Detector.stream``, the app's Live tab and the CLI's ``--stream`` all go through :meth:`step`."""

    def __init__(self, detector: Any, **tracker: Any) -> None:
        self.detector = detector
        self.tracker = LiveTracker(detector.label_for, **tracker)
        self.index, self.fps, self._last = 0, 0.0, None

    def step(self, rgb: np.ndarray, min_face_confidence: float | None = None,
             crop_margin: float | None = None) -> LiveFrame:
        """Score one RGB frame's faces and fold them in."""
        started = time.perf_counter()
        faces = self.detector.score_frame(rgb, min_face_confidence=min_face_confidence, crop_margin=crop_margin)
        persons = self.tracker.update(faces)
        now = time.perf_counter()
        if self._last is not None:  # frames per second, a moving average over the recent frames
            rate = 1.0 / max(now - self._last, 1e-6)
            self.fps = rate if not self.fps else 0.8 * self.fps + 0.2 * rate
        self._last = now
        label, score = frame_label(persons)
        frame = LiveFrame(self.index, persons, (now - started) * 1000, self.fps, label, score)
        self.index += 1
        return frame


def stream(session: LiveSession, frames: Iterable[np.ndarray], min_face_confidence: float | None = None,
           crop_margin: float | None = None) -> Iterator[LiveFrame]:
    """One :class:`LiveFrame` per RGB frame of ``frames`` (see ``Detector.stream``)."""
    for rgb in frames:
        yield session.step(rgb, min_face_confidence, crop_margin)
