"""Limits and defaults that the command line needs before anything heavy is imported (``--help`` stays instant).

The modules that enforce them (images, video, api) import them from here.
"""

# A decompression bomb is refused before it is decoded. 50 MP covers every phone camera.
DEFAULT_MAX_PIXELS = 50_000_000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
AGGREGATIONS = ("mean", "median", "top25", "confident", "max")
DEFAULT_FRAMES = 32
MAX_FRAMES = 300
DEFAULT_MAX_DURATION_S = 3600.0
DEFAULT_MAX_FACES = 64


def cache_dir(name: str):  # -> pathlib.Path
    """``$XDG_CACHE_HOME/deepfake-detector/NAME`` (default ``~/.cache``): where the face models, ONNX exports and
    the private page are kept."""
    import os
    from pathlib import Path

    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deepfake-detector" / name
