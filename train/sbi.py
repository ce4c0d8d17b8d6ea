"""Self-blended images (SBI; Shiohara & Yamasaki, CVPR 2022): pseudo-fakes made from real faces alone.

A real face is blended with a colour- and geometry-jittered copy of itself inside a soft face mask, leaving the
blending boundary and statistical inconsistencies that real deepfakes share, without any method-specific artefacts.
The mask is an ellipse through the MediaPipe keypoints (eyes, nose, mouth, ear tragions), randomly resized and
softened; outside the mask the output is exactly the input.
"""

from __future__ import annotations

import cv2
import numpy as np

from detector.faces import FaceFinder


def face_keypoints(images: np.ndarray, finder: FaceFinder | None = None,
                   only: np.ndarray | None = None) -> np.ndarray:
    """``(N, 6, 2)`` MediaPipe keypoints in pixels for each crop; NaN where no face was found.

    ``only`` (a boolean mask) limits the search to those crops (the real faces, the only ones self-blended); the
    others stay NaN.
    """
    finder = finder or FaceFinder(0.3, mode="short")
    out = np.full((len(images), 6, 2), np.nan, dtype=np.float32)
    for i, img in enumerate(images):
        if only is not None and not only[i]:
            continue
        faces = finder.detect(img, tiles=False)
        if faces and len(faces[0].keypoints) == 6:
            out[i] = np.asarray(faces[0].keypoints, dtype=np.float32)
    return out


def face_mask(shape: tuple[int, int], keypoints: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """A soft ``(H, W)`` float32 mask in [0, 1] covering the inner face, randomly scaled and blurred."""
    h, w = shape
    if keypoints is None or np.isnan(keypoints).any():
        centre, axes = (w / 2, h * 0.55), (w * 0.32, h * 0.40)  # crops are centred on the face
    else:
        eyes, mouth, ears = keypoints[:2], keypoints[3], keypoints[4:]  # MediaPipe order; [2] is the nose
        centre = (float((eyes[:, 0].mean() + mouth[0]) / 2), float((eyes[:, 1].mean() + mouth[1]) / 2))
        width = max(float(np.abs(ears[0, 0] - ears[1, 0])), float(np.abs(eyes[0, 0] - eyes[1, 0])) * 1.8, 4.0)
        height = max(float(mouth[1] - eyes[:, 1].mean()) * 2.6, 4.0)
        axes = (width * 0.5, height * 0.5)
    scale = rng.uniform(0.8, 1.15, size=2)
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))),
                (max(2, int(axes[0] * scale[0])), max(2, int(axes[1] * scale[1]))), float(rng.uniform(-10, 10)),
                0, 360, 1.0, -1)
    k = int(rng.integers(2, 6)) * 2 + 1
    sigma = float(rng.uniform(2.0, max(2.5, min(h, w) / 24)))
    soft = cv2.GaussianBlur(mask, (k * 3, k * 3), sigma)
    soft[mask == 0] = np.minimum(soft[mask == 0], 0.0)  # never leak outside the hard mask
    return np.clip(soft / max(float(soft.max()), 1e-6), 0.0, 1.0)


def _jitter_colour(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.85, 1.15), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.85, 1.15) + rng.uniform(-12, 12), 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    return np.clip((out - out.mean()) * rng.uniform(0.85, 1.15) + out.mean(), 0, 255)


def _jitter_geometry(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    scale = rng.uniform(0.95, 1.05)
    tx, ty = rng.uniform(-0.03, 0.03) * w, rng.uniform(-0.03, 0.03) * h
    m = np.float32([[scale, 0, (1 - scale) * w / 2 + tx], [0, scale, (1 - scale) * h / 2 + ty]])
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def _jitter_detail(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The source's fine detail changed, as a face generated at another resolution and pasted in would be: half
    the time resampled down (to 40-80 % of its side) and up again, otherwise sharpened (unsharp mask)."""
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        f = rng.uniform(0.4, 0.8)
        small = cv2.resize(img, (max(2, round(w * f)), max(2, round(h * f))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    blurred = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 1.5))
    amount = rng.uniform(0.3, 1.0)
    return np.clip(img + amount * (img - blurred), 0, 255)


def self_blend(img: np.ndarray, keypoints: np.ndarray | None, rng: np.random.Generator,
               detail: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One SBI pseudo-fake of an ``(H, W, 3)`` uint8 face and the blend mask used (source = jittered copy).
    ``detail``: chance that the source's fine detail is also changed (:func:`_jitter_detail`), the frequency
    inconsistency of a face made at another resolution (the published SBI resamples or sharpens its source too);
    0 draws nothing more, so earlier runs keep their exact pseudo-fakes."""
    source = _jitter_geometry(_jitter_colour(img, rng), rng)
    if detail > 0 and rng.random() < detail:
        source = _jitter_detail(source, rng)
    mask = face_mask(img.shape[:2], keypoints, rng) * float(rng.choice([0.25, 0.5, 0.75, 1.0, 1.0, 1.0]))
    blended = source * mask[..., None] + img.astype(np.float32) * (1.0 - mask[..., None])
    out = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    out[mask == 0] = img[mask == 0]  # exactly the input outside the mask
    return out, mask
