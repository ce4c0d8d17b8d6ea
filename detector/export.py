"""ONNX export, for deployment with ONNX Runtime (the report's future work).

    python -m detector export --onnx model.onnx [--model DIR_OR_REPO] [--int8]

The graph takes ``images`` ``(N, 3, S, S)`` float32 preprocessed as the checkpoint says (see ``preprocessing`` in
the ONNX metadata, which holds the checkpoint's whole config.json) and returns ``logits`` ``(N, 1)``;
P(fake) = sigmoid(logits). ``<name>.json`` beside it holds the same config (:func:`spec`: crop geometry, scaling,
each member's normalisation, the decisions, class names, scope; what the private page reads as config.json).
``--int8`` also writes ``<name>.int8.onnx`` with dynamic int8 quantisation of the weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .errors import DetectorError
from .model import FusionDetector

log = logging.getLogger(__name__)


def export_onnx(model: FusionDetector, path: str | Path, opset: int = 17) -> Path:
    """Write ``model`` as ONNX with a dynamic batch axis and the checkpoint config as metadata."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().float().to(memory_format=torch.contiguous_format).cpu()
    size = model.preprocessing.img_size
    dummy = torch.rand(1, 3, size, size)
    torch.onnx.export(model, (dummy,), str(path), input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
                      dynamo=False)
    proto = onnx.load(str(path))
    for key, value in {"config": json.dumps(model.config), "preprocessing": json.dumps(model.preprocessing.to_dict()),
                       "producer": "deepfake-detector"}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    return path


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    """Dynamic int8 quantisation of the weights (no calibration data needed)."""
    import tempfile

    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # shape inference + graph optimisation turns folded Constant weights into initializers the quantiser needs
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QUInt8)
    import onnx

    original, quantised = onnx.load(str(src)), onnx.load(str(dst))
    if not quantised.metadata_props:
        for prop in original.metadata_props:
            entry = quantised.metadata_props.add()
            entry.key, entry.value = prop.key, prop.value
        onnx.save(quantised, str(dst))
    return Path(dst)


def spec(model: FusionDetector) -> dict:
    """What a reader of an exported model needs beside the ``.onnx``: the checkpoint's own config.json (scope,
    calibration records) with its preprocessing as the model read it (crop geometry, input scaling, each member's
    normalisation, the photo and clip decisions, class names)."""
    info = getattr(model, "checkpoint_info", None) or {}
    config = {}
    if info.get("folder") and (Path(info["folder"]) / "config.json").is_file():
        config = json.loads((Path(info["folder"]) / "config.json").read_text(encoding="utf-8"))
    config.update(model.config)
    config.setdefault("name", model.name)
    return config


class OnnxScorer:
    """P(fake) from an exported model with ONNX Runtime (same input as ``Detector.to_tensor``)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.preprocessing = json.loads(meta["preprocessing"]) if "preprocessing" in meta else None

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(["logits"], {"images": np.ascontiguousarray(images, dtype=np.float32)})[0]

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return (1.0 / (1.0 + np.exp(-self.logits(images)))).reshape(-1)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m detector export", description="Export a checkpoint to ONNX.")
    p.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    p.add_argument("--model", default=None, help="checkpoint folder or Hub repo id (default: bundled)")
    p.add_argument("--int8", action="store_true", help="also write a dynamically int8-quantised copy")
    p.add_argument("--opset", type=int, default=17)
    args = p.parse_args(list(argv) if argv is not None else None)
    from .api import default_model_path

    try:
        model = FusionDetector.from_pretrained(args.model or default_model_path())
    except DetectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = export_onnx(model, args.onnx, args.opset)
    # the decision and preprocessing spec beside the graph, for readers that do not parse ONNX metadata
    out.with_suffix(".json").write_text(json.dumps(spec(model), indent=1), encoding="utf-8")
    x = torch.rand(2, 3, model.preprocessing.img_size, model.preprocessing.img_size)
    with torch.no_grad():
        expected = model(x).numpy()
    diff = float(np.abs(OnnxScorer(out).logits(x.numpy()) - expected).max())
    print(f"wrote {out} and {out.with_suffix('.json').name} (max |logit difference| vs PyTorch on random input: "
          f"{diff:.2e})")
    if args.int8:
        q = quantize_int8(out, out.with_suffix(".int8.onnx"))
        print(f"wrote {q}")
    return 0
