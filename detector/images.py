"""Reading user images into RGB uint8 arrays, whatever their mode, orientation or format."""

from __future__ import annotations

import io
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, WrongMediaError
from .limits import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES  # noqa: F401 (IMAGE_SUFFIXES: re-exported)
from .sniff import check_regular, kind_of

log = logging.getLogger(__name__)

ImageInput = Union[str, os.PathLike, bytes, np.ndarray, Image.Image]



def jpeg_roundtrip(crops: np.ndarray, quality: int) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 RGB crops, each encoded as JPEG at ``quality`` by Pillow and decoded again: the
    compression every training crop went through (``train/pack.py`` writes its crops with Pillow too)."""
    out = np.empty_like(crops)
    for i, crop in enumerate(crops):
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(crop)).save(buf, "JPEG", quality=int(quality))
        buf.seek(0)
        with Image.open(buf) as decoded:
            out[i] = np.asarray(decoded.convert("RGB"))
    return out


def load_image(image: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return an ``(H, W, 3)`` uint8 RGB array.

    EXIF orientation is applied; grayscale, RGBA/LA (composited on white), palette, CMYK, 16-bit and float images
    are converted; an animated image contributes its first frame. Anything that is not a readable image, or is
    larger than ``max_pixels``, raises :class:`InputError` with a message meant for the user.
    """
    if isinstance(image, np.ndarray):
        if image.ndim >= 2 and image.shape[0] * image.shape[1] > max_pixels:
            h, w = image.shape[:2]
            raise InputError(f"The image array is {w}x{h} pixels, larger than the limit of {max_pixels:,} pixels; "
                             "downscale it first.")
        return _array_to_rgb(image)
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image, max_pixels)
    if isinstance(image, bytes):
        source: io.BytesIO | Path = io.BytesIO(image)
        name = "the uploaded data"
    else:
        source = Path(image)
        name = source.name
        check_regular(source)
        if source.stat().st_size == 0:
            raise InputError(f"{name}: the file is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _pillow_limit(max_pixels):  # only the header is read under the lock
                opened = Image.open(source)
            with opened as pil:
                w, h = pil.size
                if w * h > max_pixels:
                    raise InputError(
                        f"{name}: {w}x{h} pixels is larger than the limit of {max_pixels:,} pixels; downscale it first."
                    )
                return _pil_to_rgb(pil, max_pixels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{name}: the image is larger than the limit of {max_pixels:,} pixels; downscale it first "
                         "(or raise the limit: max_pixels / --max-pixels / DEEPFAKE_MAX_PIXELS).") from exc
    except UnidentifiedImageError as exc:
        if isinstance(source, Path) and kind_of(source) == "video":
            raise WrongMediaError(f"{name}: this is a video, not an image; analyse it as a video.", "video") from exc
        raise InputError(f"{name}: not an image file that can be read (JPEG, PNG, WebP, GIF, BMP, TIFF).") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{name}: the image is damaged or truncated and cannot be decoded ({exc}).") from exc


_PILLOW_LOCK = threading.Lock()


@contextmanager
def _pillow_limit(max_pixels: int) -> Iterator[None]:
    """Pillow refuses images over its own limit (89 MP warns, 179 MP fails) when it reads the header, before this
    module can apply ``max_pixels``; while a header is read, Pillow's limit is the project's, so the project's limit
    is the one that speaks and ``max_pixels`` can raise it."""
    with _PILLOW_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = int(max_pixels)
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _pil_to_rgb(pil: Image.Image, max_pixels: int) -> np.ndarray:
    w, h = pil.size
    if w * h > max_pixels:
        raise InputError(f"Image of {w}x{h} pixels is larger than the limit of {max_pixels:,} pixels.")
    if getattr(pil, "n_frames", 1) > 1:
        pil.seek(0)
    pil.load()  # decode fully now so truncation errors surface here
    pil = ImageOps.exif_transpose(pil)
    mode = pil.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(pil).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P":
        pil = pil.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA") or (mode in ("L", "RGB") and "transparency" in pil.info):
        rgba = pil.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(pil.convert("RGB"))


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.size == 0:
        raise InputError("The image is empty.")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            scale = 255.0 if float(np.nanmax(arr)) <= 1.0 else 1.0
            arr = np.clip(np.nan_to_num(arr) * scale, 0, 255).astype(np.uint8)
        else:
            top = 65535.0 if arr.max() > 255 else 255.0
            arr = np.clip(arr.astype(np.float64) / top * 255.0, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        rgb = arr[:, :, :3].astype(np.float32)
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (rgb * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise InputError(f"Expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}.")
    return np.ascontiguousarray(arr)
