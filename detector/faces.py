"""Finding every face in an image with MediaPipe (Tasks API) and cropping it the way the model was trained.

Two BlazeFace models are combined: the short-range one (128 px input, close-ups and selfies) and the full-range one
(192 px input, faces up to ~5 m away, i.e. small faces in group photos). Large images are also searched tile by
tile with the full-range model so faces of 20-40 px in a 4000 px photo are not lost. Detections of the same face
are merged by non-maximum suppression, the full-range box winning. The full-range box is the reference geometry
(its scale was consistent on video frames, where the short-range box was up to 1.5x too large); short-range boxes
are rescaled to it by a measured factor, so one crop margin fits both.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .config import Preprocessing
from .face_models import model_path

log = logging.getLogger(__name__)

# full-range box side / short-range box side for the same close-up face: median over 600 crops of
# ../shared/data/dfdc-faces, measured by `python train/calibrate_crops.py` (README, "Crop geometry").
SHORT_TO_FULL_SCALE = 0.877
# Images whose longer side exceeds this are also scanned in overlapping tiles.
TILE_ABOVE = 640
# Tiles show parts of bodies out of context, so tile detections need this much more confidence.
TILE_EXTRA_CONFIDENCE = 0.2
# Detections kept by default, and MediaPipe's own suppression of overlapping boxes.
MIN_CONFIDENCE = 0.5
SUPPRESSION = 0.3
# Two detections are one face when their boxes overlap this much, or the smaller lies this much inside the other.
MERGE_IOU = 0.3
MERGE_CONTAINED = 0.7
# Boxes smaller than this (pixels, either side) are dropped.
MIN_BOX = 8


@dataclass
class Face:
    """One detected face. ``box`` is ``(x, y, w, h)`` in image pixels (full-range geometry)."""

    box: tuple[int, int, int, int]
    confidence: float
    keypoints: list[tuple[float, float]] = field(default_factory=list)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _contained(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Fraction of the smaller box covered by the other (catches a face box nested in a larger duplicate)."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3])
    return iw * ih / smaller if smaller > 0 else 0.0


def merge_detections(faces: list[Face], iou: float = MERGE_IOU) -> list[Face]:
    """Greedy NMS by confidence; also drops boxes mostly inside a kept one."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.confidence):
        if all(box_iou(face.box, k.box) < iou and _contained(face.box, k.box) < MERGE_CONTAINED for k in kept):
            kept.append(face)
    return sorted(kept, key=lambda f: (f.box[0], f.box[1]))


def reading_order(faces: list[Face]) -> list[Face]:
    """Faces as a person reads a photo: rows from top to bottom, left to right within a row. A face joins the
    current row when its centre is less than half the row's first face height below that face's centre."""
    rows: list[list[Face]] = []
    for face in sorted(faces, key=lambda f: f.box[1] + f.box[3] / 2):
        centre = face.box[1] + face.box[3] / 2
        if rows:
            first = rows[-1][0]
            if centre - (first.box[1] + first.box[3] / 2) < first.box[3] / 2:
                rows[-1].append(face)
                continue
        rows.append([face])
    return [face for row in rows for face in sorted(row, key=lambda f: f.box[0])]


def _close_at_exit(finder: FaceFinder) -> None:
    """MediaPipe closes detectors through a thread pool that is shut down by threading's exit hooks, before
    ``atexit`` runs; so register there (hooks run last-registered first), falling back to ``atexit``."""
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError
        register(finder.close)
    except RuntimeError:
        atexit.register(finder.close)


class FaceFinder:
    """MediaPipe face detection. Thread-safe; the native detectors are created lazily and closed at exit.

    Args:
        min_confidence: detections below this score are ignored.
        mode: ``"auto"`` (both models, plus tiles on large images), ``"short"`` or ``"full"``.
    """

    def __init__(self, min_confidence: float = MIN_CONFIDENCE, mode: str = "auto") -> None:
        if mode not in ("auto", "short", "full"):
            raise ValueError(f"mode must be 'auto', 'short' or 'full', got {mode!r}.")
        if not 0.0 < min_confidence < 1.0:
            raise ValueError(f"min_confidence must be in (0, 1), got {min_confidence}.")
        self.min_confidence = float(min_confidence)
        self.mode = mode
        self._detectors: dict[str, object] = {}
        self._lock = threading.Lock()
        _close_at_exit(self)

    def _detector(self, kind: str) -> object:
        if kind not in self._detectors:
            from mediapipe.tasks.python import BaseOptions, vision

            options = vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_path=str(model_path(kind))),
                running_mode=vision.RunningMode.IMAGE,
                min_detection_confidence=self.min_confidence,
                min_suppression_threshold=SUPPRESSION,
            )
            self._detectors[kind] = vision.FaceDetector.create_from_options(options)
        return self._detectors[kind]

    def close(self) -> None:
        """Release the native detectors (safe to call twice)."""
        with self._lock:
            for det in self._detectors.values():
                det.close()  # type: ignore[attr-defined]
            self._detectors.clear()

    def _run(self, kind: str, rgb: np.ndarray, offset: tuple[int, int] = (0, 0)) -> list[Face]:
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._detector(kind).detect(image)  # type: ignore[attr-defined]
        h, w = rgb.shape[:2]
        faces = []
        for det in result.detections:
            bb = det.bounding_box
            x, y, bw, bh = float(bb.origin_x), float(bb.origin_y), float(bb.width), float(bb.height)
            if kind == "short":  # express in full-range geometry: same centre, scaled sides
                cx, cy = x + bw / 2, y + bh / 2
                bw, bh = bw * SHORT_TO_FULL_SCALE, bh * SHORT_TO_FULL_SCALE
                x, y = cx - bw / 2, cy - bh / 2
            score = float(det.categories[0].score) if det.categories else 0.0
            kps = [(kp.x * w + offset[0], kp.y * h + offset[1]) for kp in det.keypoints or []]
            faces.append(Face((round(x) + offset[0], round(y) + offset[1], round(bw), round(bh)), score, kps))
        return faces

    def detect(self, rgb: np.ndarray, tiles: bool = True) -> list[Face]:
        """All faces in an ``(H, W, 3)`` uint8 RGB image, left to right. No face -> an empty list.

        ``tiles=False`` skips the tiled search of large images (video frames, where speed matters more)."""
        h, w = rgb.shape[:2]
        if min(h, w) < 16:
            return []
        with self._lock:
            primary: list[Face] = []
            if self.mode in ("auto", "full"):
                primary += self._run("full", rgb)
            if tiles and self.mode == "auto" and max(h, w) > TILE_ABOVE:
                primary += self._tiles(rgb)
            primary = merge_detections(primary)
            extra = self._run("short", rgb) if self.mode in ("auto", "short") else []
        # short-range detections only add faces the full-range model missed (typically very large close-ups)
        faces = primary + [f for f in extra if all(box_iou(f.box, p.box) < MERGE_IOU
                                                   and _contained(f.box, p.box) < MERGE_CONTAINED for p in primary)]
        faces = [f for f in faces if f.box[2] >= MIN_BOX and f.box[3] >= MIN_BOX]
        return merge_detections(faces)

    def _tiles(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        tile = max(384, min(h, w) // 2)
        step = int(tile * 0.75)
        faces = []
        for y0 in range(0, max(1, h - tile + step), step):
            for x0 in range(0, max(1, w - tile + step), step):
                y0c, x0c = min(y0, max(0, h - tile)), min(x0, max(0, w - tile))
                sub = rgb[y0c:y0c + tile, x0c:x0c + tile]
                for face in self._run("full", sub, offset=(x0c, y0c)):
                    x, y, bw, bh = face.box
                    # a tile cuts faces at its borders: keep only whole, clearly detected faces from tiles
                    inside = x > x0c and y > y0c and x + bw < x0c + sub.shape[1] and y + bh < y0c + sub.shape[0]
                    if inside and face.confidence >= min(0.95, self.min_confidence + TILE_EXTRA_CONFIDENCE):
                        faces.append(face)
        return faces


def crop_box(box: tuple[int, int, int, int], pre: Preprocessing) -> tuple[int, int, int]:
    """The square region ``(x0, y0, side)`` that the model sees for a detector box."""
    x, y, w, h = box
    base = max(w, h)
    side = max(2, int(round(base * pre.crop_margin)))
    cx = x + w / 2
    cy = y + h / 2 + pre.crop_shift_y * base
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def crop_inside(crop: Sequence[int], width: int, height: int) -> bool:
    """Whether the square ``(x0, y0, side)`` the model sees lies wholly inside a ``width x height`` image. A face
    whose square runs past the edge is cut by it: part of what the model sees is black fill, and on the
    OpenForensics validation photos such real faces were called fake three times as often (see ``deciding_faces``)."""
    x0, y0, side = crop[:3]
    return x0 >= 0 and y0 >= 0 and x0 + side <= width and y0 + side <= height


def crop_square(box: tuple[int, int, int, int], pre: Preprocessing, width: int, height: int) -> tuple[int, int, int]:
    """The square ``(x0, y0, side)`` the model sees in a ``width x height`` photo: :func:`crop_box`, or, with
    ``pre.crop_inside`` and a square that runs past the photo's edge, the same square shrunk to the photo's shorter
    side when larger (about its centre) and moved inside the photo. Without it the part outside is black fill, and
    a close-up portrait, whose face fills the photo, reached the bundled model framed in black, which it had learnt
    to read as a sign of a real face (``train/edge_probe.py``; README, "A face cut by the photo's edge reads as
    real")."""
    x0, y0, side = crop_box(box, pre)
    if not pre.crop_inside or crop_inside((x0, y0, side), width, height):
        return x0, y0, side
    fit = max(1, min(side, width, height))
    x0 = min(max(x0 + (side - fit) // 2, 0), width - fit)
    y0 = min(max(y0 + (side - fit) // 2, 0), height - fit)
    return x0, y0, fit


def crop_face(rgb: np.ndarray, box: tuple[int, int, int, int], pre: Preprocessing) -> np.ndarray:
    """Square crop around ``box`` enlarged by the checkpoint's margin (:func:`crop_square`: zero-padded at the
    borders, or moved inside the photo), resized to ``pre.img_size``. Returns ``(S, S, 3)`` uint8 RGB."""
    h, w = rgb.shape[:2]
    x0, y0, side = crop_square(box, pre, w, h)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    region = np.zeros((side, side, 3), dtype=np.uint8)
    if sx1 > sx0 and sy1 > sy0:
        region[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return resize_square(region, pre.img_size)


def pad_to_square(rgb: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``rgb`` centred on a black square of its longer side, and where it sits there (``x0, y0``): how a whole
    image (a pre-cropped face) becomes model input, in the app and in training alike."""
    h, w = rgb.shape[:2]
    if h == w:
        return rgb, 0, 0
    side = max(h, w)
    y0, x0 = (side - h) // 2, (side - w) // 2
    square = np.zeros((side, side, 3), dtype=np.uint8)
    square[y0:y0 + h, x0:x0 + w] = rgb
    return square, x0, y0


def whole_image_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """A whole image as one ``size x size`` model input: padded to a square, then resized."""
    return resize_square(pad_to_square(rgb)[0], size)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size x size`` with area averaging when shrinking (no aliasing) and bilinear when enlarging."""
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return np.ascontiguousarray(rgb)
    interp = cv2.INTER_AREA if rgb.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interp)
