"""Shared fixtures: real photos from scikit-image, tiny real checkpoints, the optional shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared(sub: str) -> Path:
    """A folder of ../shared/data, or skip the test when it is absent (e.g. on a fresh machine)."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def prefill_hub_cache(checkpoint: Path, hub: Path, repo_id: str) -> None:
    """Put a checkpoint folder (subfolders too) into a Hugging Face Hub cache at ``hub`` as ``repo_id``'s main
    snapshot, the layout huggingface_hub reads with HF_HUB_OFFLINE=1."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (untrained) resnet18+meso4 checkpoint at 64 px, saved the way training saves."""
    import torch

    from detector.model import FusionDetector

    torch.manual_seed(0)
    model = FusionDetector(["resnet18", "meso4"], preprocessing={"img_size": 64})
    return model.save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session", autouse=True)
def _quiet_native_logs() -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
