import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import prefill_hub_cache
from safetensors.torch import save_file

from detector.errors import CheckpointError, ConfigError, OfflineError
from detector.model import FusionDetector

SINGLES = [["xception"], ["densenet121"], ["resnet50"], ["meso4"]]
PAIRS = [["meso4", "resnet50"], ["meso4", "densenet121"], ["meso4", "xception"], ["xception", "resnet50"],
         ["xception", "densenet121"], ["resnet50", "densenet121"]]
TRIPLES = [["xception", "densenet121", "meso4"]]


@pytest.mark.parametrize("backbones", SINGLES + PAIRS + TRIPLES, ids=lambda b: "+".join(b))
def test_every_report_configuration_maps_a_batch_to_logits(backbones):
    model = FusionDetector(backbones).eval()
    with torch.no_grad():
        feats = model.features(torch.rand(2, 3, 256, 256))
        logits = model.head(torch.cat(feats, 1))
    assert logits.shape == (2, 1)
    assert [f.shape[1] for f in feats] == [s.num_features for s in model.specs]
    assert model.head[0].in_features == sum(s.num_features for s in model.specs)


def test_head_is_the_reports():
    model = FusionDetector(["resnet18", "meso4"])
    linear1, relu, dropout, linear2 = model.head
    assert (linear1.in_features, linear1.out_features) == (512 + 1024, 256)
    assert isinstance(relu, torch.nn.ReLU) and dropout.p == 0.5
    assert (linear2.in_features, linear2.out_features) == (256, 1)


def test_freeze_backbones_trains_only_the_head():
    model = FusionDetector(["resnet18", "meso4"], freeze_backbones=True).train()
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head"}
    assert not model.backbones.training  # BatchNorm statistics stay fixed


def test_bad_configurations_raise():
    with pytest.raises(ConfigError):
        FusionDetector([])
    with pytest.raises(ConfigError):
        FusionDetector(["meso4", "meso4"])
    with pytest.raises(ConfigError):
        FusionDetector(["meso4"], preprocessing={"img_size": 8})
    with pytest.raises(ConfigError, match="Unknown preprocessing"):
        FusionDetector(["meso4"], preprocessing={"imgsize": 128})


def test_save_load_round_trip_is_exact(tmp_path):
    model = FusionDetector(["resnet18", "meso4"], preprocessing={"img_size": 96, "threshold": 0.4}).eval()
    folder = model.save_checkpoint(tmp_path / "ck", card_text="## Data\nsynthetic")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    loaded = FusionDetector.from_pretrained(folder)
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.preprocessing.threshold == 0.4 and loaded.preprocessing.img_size == 96
    config = json.loads((folder / "config.json").read_text())
    assert config["backbones"] == ["resnet18", "meso4"] and len(config["weights_sha256"]) == 64
    assert "resnet18, meso4" in (folder / "README.md").read_text()


def test_saving_again_replaces_atomically(tmp_path):
    a, b = FusionDetector(["meso4"]), FusionDetector(["meso4"])
    a.save_checkpoint(tmp_path / "ck")
    b.save_checkpoint(tmp_path / "ck")
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]  # no temp or .old folders left
    loaded = FusionDetector.from_pretrained(tmp_path / "ck")
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_truncated_weights_fail_clearly(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="modified or corrupted"):
        FusionDetector.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    del config["weights_sha256"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        FusionDetector.from_pretrained(folder, require_hash=False)


def test_tampered_weights_fail_clearly(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte in a tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        FusionDetector.from_pretrained(folder)


def test_weights_of_another_architecture_are_rejected(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["backbones"] = ["resnet18", "mesoinception4"]
    del config["weights_sha256"]
    (folder / "config.json").write_text(json.dumps(config))
    # the config's own member normalisation names the old backbones: refused before any weight is read
    with pytest.raises(CheckpointError, match="preprocessing.members"):
        FusionDetector.from_pretrained(folder, require_hash=False)
    del config["preprocessing"]["members"]  # a config without it (older checkpoints): the weights do not fit
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="missing tensors"):
        FusionDetector.from_pretrained(folder, require_hash=False)


def test_wrong_shapes_are_rejected(tmp_path):
    model = FusionDetector(["meso4"])
    folder = model.save_checkpoint(tmp_path / "ck")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["head.0.weight"] = torch.zeros(128, 1024)
    save_file(state, str(folder / "model.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    del config["weights_sha256"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="wrong shape"):
        FusionDetector.from_pretrained(folder, require_hash=False)


def test_unknown_backbone_in_config_is_a_checkpoint_error(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["backbones"] = ["not_a_model"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="cannot be built"):
        FusionDetector.from_pretrained(folder)


def test_pickle_checkpoints_are_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    folder = tmp_path / "pickled"
    folder.mkdir()
    torch.save({"x": Evil()}, folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps({"backbones": ["meso4"]}))
    with pytest.raises(CheckpointError, match="pickle"):
        FusionDetector.from_pretrained(folder)
    assert not marker.exists()


def test_bad_config_json_is_reported(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        FusionDetector.from_pretrained(folder)


def test_invalid_repo_ids_are_refused_before_any_request():
    for bad in ["../etc/passwd", "a/b/c", "https://evil.example/x", "owner/..", "/abs/path/nowhere"]:
        with pytest.raises(CheckpointError):
            FusionDetector.from_pretrained(bad)


def test_uncached_repo_offline_says_so(tmp_path):
    with pytest.raises(OfflineError, match="Hub"):
        FusionDetector.from_pretrained("someone/not-cached", cache_dir=tmp_path, local_files_only=True)


def test_hub_repo_id_loads_offline_from_a_prefilled_cache(tiny_checkpoint, tmp_path):
    """Build the Hub cache layout by hand, then load by repo id in a fresh process with HF_HUB_OFFLINE=1."""
    prefill_hub_cache(tiny_checkpoint, tmp_path / "hub", "acme/tiny-fusion")
    code = (
        "import torch; from detector.model import FusionDetector as F;"
        "m = F.from_pretrained('acme/tiny-fusion');"
        f"r = F.from_pretrained({str(tiny_checkpoint)!r});"
        "x = torch.rand(1, 3, 64, 64);"
        "print(m.name, bool(torch.equal(m(x), r(x))))"
    )
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "resnet18+meso4 True"


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_read_preprocessing_reads_a_checkpoint_without_its_weights(tmp_path, tiny_checkpoint):
    import shutil

    from detector.checkpoint import read_preprocessing
    from detector.errors import CheckpointError

    pre = read_preprocessing(tiny_checkpoint)
    assert pre.img_size == 64 and pre.uncertain_band is None
    folder = tmp_path / "bad"
    shutil.copytree(tiny_checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    config["preprocessing"]["uncertain_band"] = [0.9, 0.95]  # does not hold the threshold 0.5
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="uncertain_band"):
        read_preprocessing(folder)
