"""The background of a face crop: where it is (a person mask) and what it becomes when it is replaced.

The training fakes of the synthetic-faces set are generated studio portraits on plain grey backgrounds, while most
training reals are photos taken anywhere; the test's real studio portraits then look like the training fakes. This
module finds the person in a face crop with MediaPipe's selfie-segmentation model (``selfie_segmentation.tflite``,
Apache-2.0, from the same ``mediapipe==0.10.21`` wheel as the face-detector models, cached beside them) so that the
background can be measured (``train/background_probe.py``) and replaced at training time (``fit.py
--plain-background``) in real and fake faces alike.

The model was made for selfies, with the head a third of the frame; on a tight face crop it marks nearly everything
as person, so each crop is first padded (its border repeated) above and on both sides by half its side, and the mask
is cut back to the crop.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detector.face_models import wheel_file

SEGMENTER = ("mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
             "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c")
PAD = 0.5  # padding above and on both sides, as a fraction of the crop's side
MIN_PERSON = 0.5  # a face crop is mostly person: below this share the mask is a segmentation failure


def segmenter_path() -> Path:
    """The selfie-segmentation model, fetched once from the mediapipe 0.10.21 wheel (``$DEEPFAKE_FACE_MODELS`` or the
    user cache)."""
    inner, sha = SEGMENTER
    return wheel_file(inner, sha, fetch_together={inner: sha})


class PersonMasks:
    """``masks(crops)``: for ``(N, S, S, 3)`` uint8 crops, ``(N, S, S)`` float32 in [0, 1], 1 where the person is."""

    def __init__(self) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.ImageSegmenterOptions(base_options=BaseOptions(model_asset_path=str(segmenter_path())),
                                               output_confidence_masks=True)
        self._segmenter = vision.ImageSegmenter.create_from_options(options)

    def mask(self, crop: np.ndarray) -> np.ndarray:
        import mediapipe as mp

        side = crop.shape[0]
        pad = round(side * PAD)
        big = cv2.copyMakeBorder(crop, pad, 0, pad, pad, cv2.BORDER_REPLICATE)
        result = self._segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(big)))
        person = result.confidence_masks[0].numpy_view()
        person = person.reshape(person.shape[:2])
        return np.clip(person[pad:pad + side, pad:pad + side], 0.0, 1.0).astype(np.float32)

    def masks(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0,) + crops.shape[1:3], np.float32)
        return np.stack([self.mask(c) for c in crops])

    def close(self) -> None:
        self._segmenter.close()


def background_colour(crop: np.ndarray, person: np.ndarray) -> np.ndarray:
    """The mean colour of the crop's background (the whole crop's mean where no background was found)."""
    weight = 1.0 - person
    if weight.sum() < 1.0:
        return crop.reshape(-1, 3).mean(0)
    return (crop * weight[..., None]).reshape(-1, 3).sum(0) / weight.sum()


def fill_background(crop: np.ndarray, person: np.ndarray, colour) -> np.ndarray:
    """The crop with its background replaced by a flat ``colour`` (RGB), blended by the soft person mask."""
    alpha = person[..., None]
    out = crop.astype(np.float32) * alpha + np.asarray(colour, np.float32).reshape(1, 1, 3) * (1.0 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def fill_person(crop: np.ndarray, person: np.ndarray, colour) -> np.ndarray:
    """The crop with the person replaced by a flat ``colour``: only the background is left to read."""
    return fill_background(crop, 1.0 - person, colour)


def plain_background(crop: np.ndarray, person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What ``fit.py --plain-background`` does to a training face of either class: its background becomes flat, half
    of the time in its own mean colour, otherwise in a studio tone (a grey from 90 to 250, slightly tinted), with a
    little sensor-like noise so that it is not unnaturally clean. A crop where the segmenter finds less than half a
    person (it fails on some extreme close-ups) is left as it is."""
    if person.mean() < MIN_PERSON:
        return crop
    if rng.random() < 0.5:
        colour = background_colour(crop, person)
    else:
        colour = rng.uniform(90, 250) + rng.uniform(-12, 12, size=3)
    flat = np.empty(crop.shape, np.float32)
    flat[:] = np.clip(colour, 0, 255)
    flat += rng.normal(0.0, rng.uniform(0.0, 3.0), size=crop.shape).astype(np.float32)
    alpha = person[..., None]
    out = crop.astype(np.float32) * alpha + flat * (1.0 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
