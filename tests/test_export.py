import json
import subprocess
import sys

import numpy as np
import torch

from detector.export import OnnxScorer, export_onnx, quantize_int8
from detector.model import FusionDetector


def test_onnx_runtime_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    model = FusionDetector(["resnet18", "meso4"], preprocessing={"img_size": 96}).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    scorer = OnnxScorer(path)
    x = torch.rand(3, 3, 96, 96)  # a batch size other than the export's
    with torch.no_grad():
        expected = torch.sigmoid(model(x)).squeeze(1).numpy()
    np.testing.assert_allclose(scorer.predict_proba(x.numpy()), expected, atol=1e-4)
    assert scorer.preprocessing["img_size"] == 96
    q = OnnxScorer(quantize_int8(path, tmp_path / "m.int8.onnx"))
    assert np.abs(q.predict_proba(x.numpy()) - expected).max() < 0.1
    assert q.preprocessing["img_size"] == 96


def test_export_cli(tiny_checkpoint, tmp_path):
    out = tmp_path / "cli.onnx"
    proc = subprocess.run([sys.executable, "-m", "detector", "export", "--onnx", str(out), "--model",
                           str(tiny_checkpoint), "--int8"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and out.with_suffix(".int8.onnx").is_file()
    diff = float(proc.stdout.split("difference| vs PyTorch on random input: ")[1].split(")")[0])
    assert diff < 1e-3
    config = json.loads(OnnxScorer(out).session.get_modelmeta().custom_metadata_map["config"])
    assert config["backbones"] == ["resnet18", "meso4"]
    spec = json.loads(out.with_suffix(".json").read_text())  # the page's spec, beside the graph
    pre = spec["preprocessing"]
    assert [m["backbone"] for m in pre["members"]] == ["resnet18", "meso4"]
    assert pre["members"][1]["mean"] == [0.0, 0.0, 0.0]  # Meso-4 reads [0,1] pixels as they are
    assert {"threshold", "uncertain_band", "class_names", "crop_margin", "crop_shift_y", "img_size"} <= set(pre)
