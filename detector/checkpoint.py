"""Checkpoint folders: find them (local or Hub), read and check ``config.json``, verify the weights' hash.

Everything that reads a checkpoint's configuration goes through here (the model loader, training, calibration, the
model card, the app), so a config is parsed and validated in one way only. A checkpoint is a folder with
``config.json`` + ``model.safetensors`` (+ ``README.md``); pickle weights are refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import Preprocessing
from .errors import CheckpointError, ConfigError, OfflineError

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
VIDEO_DIR = "video"  # a checkpoint may carry a second one, for videos, in this subfolder
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,199}$")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensors (e.g. {missing[:3]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[:3]})")
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} tensors of the wrong shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                        f"{tuple(own[k].shape)} expected)")
    if problems:
        raise CheckpointError(f"{path} does not match its config.json: " + "; ".join(problems) + ".")


def read_config(folder: Path) -> dict[str, Any]:
    """Parse and check a checkpoint's ``config.json``."""
    path = folder / CONFIG_NAME
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not a readable JSON config: {exc}") from exc
    if not isinstance(config, dict) or "backbones" not in config:
        raise CheckpointError(f"{path} is not a deepfake-detector config (no 'backbones' key).")
    return config


def is_repo_id(text: str) -> bool:
    """Whether ``text`` has the form of a Hugging Face repo id (``owner/name``)."""
    return bool(_REPO_ID.match(text)) and ".." not in text


def validate_repo_id(repo_id: str, revision: str | None = None) -> None:
    """Hub ids look like ``owner/name``; anything else (paths, URLs, '..') is refused before any request."""
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise CheckpointError(
            f"{repo_id!r} is neither an existing local checkpoint folder nor a valid Hugging Face repo id "
            "('owner/name')."
        )
    if revision is not None and (not _REVISION.match(revision) or ".." in revision):
        raise CheckpointError(f"Invalid revision {revision!r}: use a branch, tag or commit hash.")


def resolve_checkpoint(
    name_or_path: str | os.PathLike,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """Return a local folder holding ``config.json`` and ``model.safetensors`` (downloading from the Hub if needed)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        folder = path
    elif path.exists():
        raise CheckpointError(f"{path} is a file; pass the checkpoint folder that holds config.json and "
                              f"{WEIGHTS_NAME}.")
    else:
        repo_id = str(name_or_path)
        validate_repo_id(repo_id, revision)
        folder = _download(repo_id, revision, cache_dir, local_files_only, token)
    if not (folder / WEIGHTS_NAME).is_file():
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in _PICKLE_SUFFIXES) if folder.is_dir() else []
        if pickles:
            raise CheckpointError(
                f"{folder} holds only pickle weights ({', '.join(pickles)}), which can execute code when loaded and "
                f"are refused. Convert them to {WEIGHTS_NAME} (safetensors) with save_pretrained()."
            )
        raise CheckpointError(f"{folder} has no {WEIGHTS_NAME}; a checkpoint folder holds {CONFIG_NAME} + "
                              f"{WEIGHTS_NAME} (+ {CARD_NAME}).")
    if not (folder / CONFIG_NAME).is_file():
        raise CheckpointError(f"{folder} has no {CONFIG_NAME}, so the model cannot be rebuilt.")
    return folder


def _download(repo_id: str, revision: str | None, cache_dir: Any, local_files_only: bool, token: Any) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(
            repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token,
            allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]
            + [f"{VIDEO_DIR}/{name}" for name in (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)],
        ))
    except RepositoryNotFoundError as exc:
        raise CheckpointError(f"Hugging Face repo {repo_id!r} was not found (or is private: pass a token).") from exc
    except LocalEntryNotFoundError as exc:
        raise OfflineError(
            f"{repo_id!r} is not a local folder and could not be fetched from the Hugging Face Hub (no network, or "
            "HF_HUB_OFFLINE=1, and it is not in the local Hub cache). Connect to the internet once, or pass a local "
            "checkpoint folder."
        ) from exc
    except (HfHubHTTPError, OSError) as exc:
        raise OfflineError(f"Could not download {repo_id!r} from the Hugging Face Hub: {exc}") from exc


def resolve_hub(
    repo_id: str, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
) -> Path:
    """A Hugging Face repo id, resolved through the Hub (or its local cache) only: never a local path, so a caller
    that takes text from strangers learns nothing about the server's files."""
    validate_repo_id(repo_id, revision)
    folder = _download(repo_id, revision, cache_dir, False, token)
    return resolve_checkpoint(folder)


def video_folder(folder: Path, config: dict[str, Any]) -> Path | None:
    """The checkpoint a checkpoint names for videos (``"video_model": "video"`` in its config: the subfolder
    ``video/``, a complete checkpoint of its own), or None when it names none and scores videos itself."""
    name = config.get("video_model")
    if name is None:
        return None
    if name != VIDEO_DIR:
        raise CheckpointError(f"{folder / CONFIG_NAME}: 'video_model' must be {VIDEO_DIR!r} (the subfolder that holds "
                              f"the checkpoint for videos), got {name!r}.")
    sub = folder / VIDEO_DIR
    if not (sub / CONFIG_NAME).is_file() or not (sub / WEIGHTS_NAME).is_file():
        raise CheckpointError(f"{folder / CONFIG_NAME} names a checkpoint for videos in {sub}, which does not hold "
                              f"{CONFIG_NAME} and {WEIGHTS_NAME}.")
    return sub


def read_preprocessing(name_or_path: str | os.PathLike, video: bool = False) -> Preprocessing:
    """A checkpoint's preprocessing (input size, crop geometry, threshold, uncertain band) without loading weights;
    ``video``: that of the checkpoint that scores its videos (its ``video/`` one when it names one)."""
    folder = resolve_checkpoint(name_or_path)
    config = read_config(folder)
    sub = video_folder(folder, config) if video else None
    if sub is not None:
        folder, config = sub, read_config(sub)
    try:
        return Preprocessing.from_dict(config.get("preprocessing"))
    except ConfigError as exc:
        raise CheckpointError(f"{folder}: invalid preprocessing in {CONFIG_NAME}: {exc}") from exc
