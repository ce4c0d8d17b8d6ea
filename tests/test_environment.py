"""The README install gives a consistent environment."""

import subprocess
import sys
from importlib.metadata import version


def test_pip_check_is_clean():
    proc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_key_imports_work():
    code = "import cv2, mediapipe, timm, gradio, pytorch_grad_cam, onnxruntime, huggingface_hub; print(cv2.__version__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_both_opencv_distributions_are_the_same_release():
    """They share the cv2/ folder, so they must be the same version (see requirements.txt)."""
    import cv2

    contrib, headless = version("opencv-contrib-python"), version("opencv-python-headless")
    assert contrib == headless
    assert contrib.startswith(cv2.__version__)
