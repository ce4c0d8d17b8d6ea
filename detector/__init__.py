"""Deepfake detection by feature-level fusion of CNNs: faces found by MediaPipe, scored by a fusion of backbones,
explained by Grad-CAM.

    from detector import Detector
    result = Detector.from_pretrained().analyze_image("photo.jpg", explain=True)
"""

from .api import Detector
from .backbones import REGISTRY, list_backbones
from .config import Preprocessing
from .errors import CheckpointError, ConfigError, DetectorError, InputError, OfflineError
from .model import FusionDetector
from .results import FaceResult, ImageResult, Track, VideoResult

__all__ = [
    "REGISTRY", "CheckpointError", "ConfigError", "Detector", "DetectorError", "FaceResult", "FusionDetector",
    "ImageResult", "InputError", "OfflineError", "Preprocessing", "Track", "VideoResult", "list_backbones",
]
