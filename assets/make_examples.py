"""Regenerate the app's example files from public-domain photos that ship inside scikit-image.

    python assets/make_examples.py

- astronaut.jpg: NASA portrait of Eileen Collins (public domain), as in skimage.data.astronaut().
- astronaut-blended.jpg: a fake this project makes from that portrait: the face is blended with a colour- and
  geometry-jittered copy of itself inside a soft face mask (train/sbi.py, self-blending, seed 1, full strength).
- astronaut-airbrushed.png: a second fake made here: the face alone airbrushed (four passes of a strong
  edge-preserving bilateral filter), its tone shifted (hue +3, saturation x1.2, brightness x1.05), and blended back
  into the photo inside the same kind of soft face mask: a waxy, off-tone face in a sharp photo. Saved losslessly:
  re-encoded as JPEG q92 the bundled model scores it 0.66 instead of 0.82 (compression hides part of the edit).
- group.jpg: a 'group photo' composed by this script from that portrait at several sizes, for multi-face tests.
- clip.webm: a 3 s clip (VP8, plays in browsers) composed by this script (the portrait drifting across a plain
  background).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

from detector.faces import FaceFinder
from train.sbi import face_mask, self_blend

OUT = Path(__file__).resolve().parent / "examples"


def airbrushed(rgb: np.ndarray, keypoints: np.ndarray, passes: int = 4) -> np.ndarray:
    """The face alone smoothed by repeated bilateral filtering, its tone shifted, blended back inside a soft mask."""
    smooth = rgb
    for _ in range(passes):
        smooth = cv2.bilateralFilter(smooth, 15, 80, 15)
    hsv = cv2.cvtColor(smooth, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + 3) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.2, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * 1.05, 0, 255)
    smooth = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mask = face_mask(rgb.shape[:2], keypoints, np.random.default_rng(1))[..., None]
    return np.clip(smooth * mask + rgb * (1.0 - mask), 0, 255).round().astype(np.uint8)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    astronaut = data.astronaut()
    Image.fromarray(astronaut).save(OUT / "astronaut.jpg", quality=92)
    face = FaceFinder(0.5).detect(astronaut)[0]
    blended, _ = self_blend(astronaut, np.asarray(face.keypoints, np.float32), np.random.default_rng(1))
    Image.fromarray(blended).save(OUT / "astronaut-blended.jpg", quality=92)
    fake = airbrushed(astronaut, np.asarray(face.keypoints, np.float32))
    Image.fromarray(fake).save(OUT / "astronaut-airbrushed.png")

    head = astronaut[30:210, 130:320]
    rng = np.random.default_rng(0)
    canvas = np.full((700, 1200, 3), 110, np.uint8) + rng.integers(0, 25, (700, 1200, 3), dtype=np.uint8)
    for i, (scale, x, y) in enumerate([(1.5, 40, 120), (1.0, 380, 80), (0.7, 640, 200), (1.1, 860, 300),
                                       (0.6, 420, 420)]):
        h = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas[y:y + h.shape[0], x:x + h.shape[1]] = h[:, ::-1] if i % 2 else h
    Image.fromarray(canvas).save(OUT / "group.jpg", quality=90)

    writer = cv2.VideoWriter(str(OUT / "clip.webm"), cv2.VideoWriter_fourcc(*"VP80"), 10.0, (480, 270))
    for i in range(30):
        frame = np.full((270, 480, 3), 90, np.uint8)
        frame[40:220, 40 + i * 6:230 + i * 6] = head
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


if __name__ == "__main__":
    main()
