"""Speed benchmark (not a test): model-only paths, end-to-end photo and video, FLOPs and the machine's peak.

    python benchmarks/bench.py --json bench.json                       # everything (long on 2 cores)
    python benchmarks/bench.py --configs default resnet18+meso4 --quick  # a subset, fewer repetitions

For each configuration (the report's ten and the shipped default, at their input size) and each path (eager fp32,
channels_last, bf16 autocast where the CPU has it, the Detector's CPU path: bf16 with BatchNorm folded and the batch
split across cores, ONNX Runtime fp32 and int8) it measures faces/s at batch 1 and
32, p50/p95 latency of one face and peak RSS, and the accuracy delta against fp32: ROC AUC on a fixed sample of the
DFDC test split when ../shared/data is present and the model is trained, else max |ΔP(fake)| on generated inputs.
End to end: one photo with and without Grad-CAM, one 10 s 1080p clip with 32 sampled frames, app cold start, and
training images/s. FLOPs per face come from torch's FLOP counter; the peak from large fp32/bf16 matmuls.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from detector.api import Detector, default_model_path
from detector.checkpoint import read_config
from detector.export import OnnxScorer, export_onnx, quantize_int8
from detector.model import FusionDetector
from detector.runtime import Runtime, cpu_has_bf16

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
REPORT_CONFIGS = ["xception", "densenet121", "resnet50", "meso4", "meso4+resnet50", "meso4+densenet121",
                  "meso4+xception", "xception+resnet50", "xception+densenet121", "resnet50+densenet121"]
PATHS = ["eager_fp32", "channels_last", "bf16", "bf16_fast", "fp32_fast", "onnx_fp32", "onnx_int8", "detector_auto"]
CUDA_PATHS = ["cuda_fp32", "cuda_fp16", "cuda_fp16_cl", "cuda_bf16_cl"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {"gpu": props.name, "gpu_memory_gb": round(props.total_memory / 2**30, 1), "torch": torch.__version__,
                "cuda": torch.version.cuda, "python": platform.python_version()}
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "threads": torch.get_num_threads(), "bf16_native": cpu_has_bf16(),
            "torch": torch.__version__, "python": platform.python_version()}


def peak_flops(dtype: torch.dtype, n: int = 2048, reps: int = 5, device: str = "cpu") -> float:
    a, b = torch.rand(n, n, dtype=dtype, device=device), torch.rand(n, n, dtype=dtype, device=device)
    torch.mm(a, b)
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - start)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def flops_per_face(model: torch.nn.Module, size: int) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 3, size, size))
    return float(counter.get_total_flops())


def load(config: str) -> FusionDetector:
    if config == "default":
        return FusionDetector.from_pretrained(default_model_path()).eval()
    torch.manual_seed(0)  # the same random weights for every path, so deltas compare like with like
    return FusionDetector(config.split("+")).eval()


CHOSEN: dict = {}  # the scoring path the runtime picked on this machine (detector_auto)


def make_runner(model: FusionDetector, path: str, tmp: Path):
    """A function images(N,3,S,S) float32 numpy -> P(fake), for one path."""
    if path.startswith("onnx"):
        onnx_path = export_onnx(model, tmp / f"{model.name}.onnx")
        if path == "onnx_int8":
            onnx_path = quantize_int8(onnx_path, tmp / f"{model.name}.int8.onnx")
        scorer = OnnxScorer(onnx_path)
        return scorer.predict_proba
    if path.startswith("cuda"):
        return cuda_runner(model, path)
    if path == "detector_auto":  # what the Detector runs: the runtime measures its paths and keeps the fastest
        runtime = Runtime(model, "cpu", "auto", backend="auto")
        CHOSEN["backend"] = runtime.backend
        return lambda x: torch.sigmoid(runtime.forward(torch.from_numpy(x))).squeeze(1).numpy()
    if path in ("bf16_fast", "fp32_fast"):  # the Detector's CPU runtime: BatchNorm folded, batch split across cores;
        # bf16 where the CPU has it and every backbone gains from it, else fp32 (EfficientNet-Lite)
        runtime = Runtime(model, "cpu", path.split("_")[0])
        return lambda x: torch.sigmoid(runtime.forward(torch.from_numpy(x))).squeeze(1).numpy()
    m = model.to(memory_format=torch.channels_last if path in ("channels_last", "bf16") else torch.contiguous_format)

    def run(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x)
        if path != "eager_fp32":
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            if path == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits = m(t)
            else:
                logits = m(t)
        return torch.sigmoid(logits.float()).squeeze(1).numpy()

    return run


def cuda_runner(model: FusionDetector, path: str):
    """The GPU paths: fp32, fp16 autocast (the Detector's CUDA runtime), and channels_last fp16/bf16."""
    if path == "cuda_fp16":
        runtime = Runtime(model, "cuda", "fp16")
        return lambda x: torch.sigmoid(runtime.forward(torch.from_numpy(x))).squeeze(1).cpu().numpy()
    cl = path.endswith("_cl")
    m = model.cuda().to(memory_format=torch.channels_last if cl else torch.contiguous_format)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(path.split("_")[1])

    def run(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x).cuda(non_blocking=True)
        if cl:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = m(t)
        return torch.sigmoid(logits.float()).squeeze(1).cpu().numpy()  # .cpu() waits for the GPU

    return run


def timed(fn, x: np.ndarray, reps: int) -> list[float]:
    fn(x)  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return times


def accuracy_sample(size: int, n: int = 400) -> tuple[np.ndarray, np.ndarray] | None:
    """A fixed, class-balanced sample of the DFDC test split (None when the data is absent)."""
    manifest = DATA / "dfdc-faces" / "manifest.csv"
    if not manifest.is_file():
        return None
    from train.data import discover, limit_split, load_split

    split = limit_split(discover(manifest)["test"], n, seed=0)
    x, y, _ = load_split(split, size)
    return x.transpose(0, 3, 1, 2).astype(np.float32) / 255.0, y


def measure(config: str, path: str, reps: int, tmp: Path, trained: bool) -> dict:
    """One configuration on one path (a CPU path runs in a process of its own, see :func:`bench_model`)."""
    model = load(config)
    size = model.preprocessing.img_size
    rng = np.random.default_rng(0)
    one = rng.random((1, 3, size, size), dtype=np.float32)
    batch = rng.random((32, 3, size, size), dtype=np.float32)
    if path.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    run = make_runner(model, path, tmp)
    lat = timed(run, one, reps * 4)
    thr = timed(run, batch, max(2, reps // 2))
    entry: dict = {"faces_per_s_b1": round(1 / statistics.median(lat), 2),
                   "faces_per_s_b32": round(32 / statistics.median(thr), 2),
                   "p50_ms": round(1000 * statistics.median(lat), 1),
                   "p95_ms": round(1000 * float(np.percentile(lat, 95)), 1)}
    if path.startswith("cuda"):
        big = rng.random((256, 3, size, size), dtype=np.float32)
        entry["faces_per_s_b256"] = round(256 / statistics.median(timed(run, big, max(2, reps // 2))), 1)
        entry["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    entry["peak_rss_mb"] = round(peak_rss_mb())  # this process ran only this configuration on this path
    if CHOSEN:
        entry["backend"] = CHOSEN["backend"]
    sample = accuracy_sample(size) if trained else None
    if sample is not None:
        scores = np.concatenate([run(sample[0][i:i + 32]) for i in range(0, len(sample[0]), 32)])
        return {"entry": entry, "labels": sample[1].tolist(), "scores": scores.tolist()}
    return {"entry": entry, "probs": run(batch).tolist()}


def bench_model(config: str, paths: list[str], quick: bool, trained: bool) -> dict:
    """Every path of one configuration, each in its own process, so that peak memory is that path's alone; accuracy
    deltas are taken against the first (fp32) path."""
    from sklearn.metrics import roc_auc_score

    model = load(config)
    size = model.preprocessing.img_size
    out: dict = {"model": model.name, "img_size": size,
                 "gflops_per_face": round(flops_per_face(model, size) / 1e9, 3), "paths": {}}
    del model
    reference = None
    for path in paths:
        if path.startswith("bf16") and not cpu_has_bf16():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            if path.startswith("cuda"):  # GPU memory is measured per path anyway (peak statistics are reset)
                result = measure(config, path, 3 if quick else 10, Path(tmp), trained)
                result["entry"].pop("peak_rss_mb")
            else:
                result_file = Path(tmp) / "result.json"
                cmd = [sys.executable, __file__, "--one", config, path, "--json", str(result_file)]
                subprocess.run(cmd + (["--quick"] if quick else []) + (["--trained"] if trained else []), check=True)
                result = json.loads(result_file.read_text())
        entry = result["entry"]
        if "scores" in result:
            auc = float(roc_auc_score(result["labels"], result["scores"]))
            reference = auc if reference is None else reference
            entry.update(roc_auc=round(auc, 4), delta_auc=round(auc - reference, 4))
        else:
            probs = np.asarray(result["probs"])
            reference = probs if reference is None else reference
            entry["max_abs_delta_p"] = round(float(np.abs(probs - reference).max()), 5)
        out["paths"][path] = entry
        print(f"{config:28s} {path:14s} {entry}", flush=True)
    return out


def end_to_end(reps: int) -> dict:
    from skimage import data

    detector = Detector.from_pretrained()
    photo = data.astronaut()
    result: dict = {}
    # Detector.score_crops from uint8 face crops: what a face costs in the app once it is cropped, including the
    # checkpoint's JPEG round trip (jpeg_quality), which the tensor-level paths above do not see
    size = detector.pre.img_size
    crops = np.random.default_rng(0).integers(0, 256, (256, size, size, 3), dtype=np.uint8)
    detector.score_crops(crops[:32])
    times = timed(lambda _: detector.score_crops(crops), None, reps)
    result["detector_crops_per_s"] = round(len(crops) / statistics.median(times), 1)
    result["jpeg_quality"] = detector.pre.jpeg_quality
    for explain in (False, True):
        times = timed(lambda _: detector.analyze_image(photo, explain=explain), None, reps)
        result["image_e2e_explain_ms" if explain else "image_e2e_ms"] = round(1000 * statistics.median(times), 1)
    clip = DATA / "dfdc-videos" / "lynaeydofd.mp4"
    if clip.is_file():
        times = timed(lambda _: detector.analyze_video(clip, frames=32), None, max(1, reps // 3))
        result["video_32f_s"] = round(statistics.median(times), 2)
        result["video_clip"] = f"{clip.name} (1920x1080, 10 s)"
    return result


def cold_start() -> float:
    """Seconds from `python app.py` to the first answered /analyze_image request (on a free port)."""
    import os
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.time()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        from gradio_client import Client, handle_file

        while True:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:  # not up yet
                if time.time() - start > 300:
                    raise
                time.sleep(0.3)
        client.predict(handle_file(str(ROOT / "assets" / "examples" / "astronaut.jpg")), False, "bundled default",
                       0.5, 0.5, 1.15, api_name="/analyze_image")
        return round(time.time() - start, 1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def training_speed(config: str, size: int, steps: int = 6, batch: int = 32) -> float:
    model = FusionDetector(config.split("+"), preprocessing={"img_size": size}).train()
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,)).float()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_has_bf16()):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return round(batch / statistics.median(times[1:]), 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["default", *REPORT_CONFIGS])
    p.add_argument("--paths", nargs="+", default=None, choices=PATHS + CUDA_PATHS,
                   help="default: the CPU paths, or the CUDA paths when a GPU is present")
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--skip-e2e", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--one", nargs=2, metavar=("CONFIG", "PATH"), help=argparse.SUPPRESS)  # a child process
    p.add_argument("--trained", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    reps = 3 if args.quick else 10
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(*args.one, reps, Path(tmp), args.trained)
        args.json.write_text(json.dumps(result))
        return
    cuda = torch.cuda.is_available()
    paths = args.paths or (CUDA_PATHS if cuda else PATHS)
    device = "cuda" if cuda else "cpu"
    n = 8192 if cuda else 2048  # large enough to reach the device's peak
    report: dict = {"machine": machine(),
                    "peak_gflops_fp32": round(peak_flops(torch.float32, n, device=device) / 1e9, 1)}
    if cuda or cpu_has_bf16():
        report["peak_gflops_bf16"] = round(peak_flops(torch.bfloat16, n, device=device) / 1e9, 1)
    report["models"] = {}
    for config in args.configs:
        if config == "default" and not (default_model_path() / "model.safetensors").is_file():
            continue
        report["models"][config] = bench_model(config, paths, args.quick, trained=config == "default")
    for model in report["models"].values():  # each path's share of the fp32 peak measured in this run
        for entry in model["paths"].values():
            entry["share_of_fp32_peak"] = round(entry["faces_per_s_b32"] * model["gflops_per_face"]
                                                / report["peak_gflops_fp32"], 3)
    if "default" in report["models"]:
        d = report["models"]["default"]
        report["default"] = {"faces_per_s": {k: v["faces_per_s_b32"] for k, v in d["paths"].items()}}
        if not args.skip_e2e:
            report["default"].update(end_to_end(reps))
            report["default"]["app_cold_start_s"] = cold_start()
            name = "+".join(read_config(default_model_path())["backbones"])
            report["default"]["train_images_per_s"] = training_speed(name, d["img_size"])
        report.update({k: v for k, v in report["default"].items() if k in ("image_e2e_ms", "video_32f_s")})
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
