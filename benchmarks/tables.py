"""Render the README's speed tables from the JSON that benchmarks/bench.py writes.

    python benchmarks/tables.py assets/results/bench-cpu.json
    python benchmarks/tables.py assets/results/bench-gpu.json
    python benchmarks/tables.py assets/results/ab-cpu.json      # what benchmarks/ab.py writes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAMES = {"eager_fp32": "eager fp32", "channels_last": "channels_last", "bf16": "bf16 autocast",
         "bf16_fast": "bf16 + folded BN + split batch (Detector)",
         "fp32_fast": "fp32 + folded BN + split batch (Detector, EfficientNet-Lite)", "onnx_fp32": "ONNX Runtime fp32",
         "onnx_int8": "ONNX Runtime int8", "detector_auto": "Detector (the path its runtime chose here)"}


def delta(entry: dict) -> str:
    if "delta_auc" in entry:
        return f"{entry['delta_auc']:+.4f}" if entry["delta_auc"] else "0"
    return f"max ΔP {entry.get('max_abs_delta_p', 0):g}"


def label(config: str, model: dict) -> str:
    return f"default {model.get('model', '')}".strip() if config == "default" else config


def compact_table(report: dict) -> str:
    """One row per configuration: faces/s at batch 32 on each path, latency and memory of the Detector's path."""
    paths = list(NAMES)
    rows = ["| configuration (input) | GFLOP/face | " + " | ".join(NAMES[x] for x in paths)
            + " | p50 ms, 1 face (Detector) | peak RSS MB (Detector) |", "|---|---|" + "---|" * (len(paths) + 2)]
    for config, model in report["models"].items():
        p = model["paths"]
        fast = p.get("fp32_fast", {}) if "efficientnet_lite" in model.get("model", "") else p.get("bf16_fast", {})
        rows.append(f"| {label(config, model)} ({model['img_size']}) | {model['gflops_per_face']:.1f} | "
                    + " | ".join(f"{p[x]['faces_per_s_b32']:g}" if x in p else "" for x in paths)
                    + f" | {fast.get('p50_ms', '')} | {fast.get('peak_rss_mb', '')} |")
    return "\n".join(rows)


def cpu_tables(report: dict) -> str:
    rows = ["| model (input) | GFLOP/face | path | faces/s batch 1 | faces/s batch 32 | share of fp32 peak | "
            "p50 / p95 ms (1 face) | peak RSS MB | ΔROC AUC vs fp32 (400 DFDC test crops) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for config, model in report["models"].items():
        for i, (path, e) in enumerate(model["paths"].items()):
            head = (f"{label(config, model)} ({model['img_size']})",
                    f"{model['gflops_per_face']:.1f}") if i == 0 else ("", "")
            auc = f" (AUC {e['roc_auc']:.3f})" if i == 0 and "roc_auc" in e else ""
            share = f"{e['share_of_fp32_peak']:.0%}" if "share_of_fp32_peak" in e else ""
            name = NAMES.get(path, path) + (f": {e['backend']}" if "backend" in e else "")
            rows.append(f"| {head[0]} | {head[1]} | {name} | {e['faces_per_s_b1']:g} | "
                        f"{e['faces_per_s_b32']:g} | {share} | {e['p50_ms']} / {e['p95_ms']} | "
                        f"{e.get('peak_rss_mb', '')} | {delta(e)}{auc} |")
    return "\n".join(rows)


def gpu_table(report: dict) -> str:
    rows = ["| model (input) | GFLOP/face | faces/s batch 1 (fp32 / fp16) | batch 32 (fp32 / fp16 / bf16+cl) | "
            "batch 256 (fp32 / fp16 / bf16+cl) | p50 ms 1 face (fp16) | peak GPU MB (fp16, batch 256) |",
            "|---|---|---|---|---|---|---|"]
    for config, model in report["models"].items():
        p = model["paths"]

        def cols(key: str, paths: tuple[str, ...]) -> str:
            return " / ".join(f"{p[x][key]:.0f}" for x in paths if x in p)

        rows.append(f"| {label(config, model)} ({model['img_size']}) | "
                    f"{model['gflops_per_face']:.1f} | {cols('faces_per_s_b1', ('cuda_fp32', 'cuda_fp16'))} | "
                    f"{cols('faces_per_s_b32', ('cuda_fp32', 'cuda_fp16', 'cuda_bf16_cl'))} | "
                    f"{cols('faces_per_s_b256', ('cuda_fp32', 'cuda_fp16', 'cuda_bf16_cl'))} | "
                    f"{p['cuda_fp16']['p50_ms']} | {p['cuda_fp16']['peak_gpu_mb']} |")
    return "\n".join(rows)


def ab_table(report: dict) -> str:
    """benchmarks/ab.py: faces/s of each path at batch 1 and 32, and the speed-up of the last path over the first."""
    rows = ["| model | path | faces/s batch 1 | faces/s batch 32 |", "|---|---|---|---|"]
    for config, paths in report["models"].items():
        names = list(paths)
        for i, name in enumerate(names):
            e = paths[name]
            gain = ""
            if i == len(names) - 1 and i > 0:
                first = paths[names[0]]
                gain = (f" ({e['faces_per_s_b1'] / first['faces_per_s_b1']:.2f}x)",
                        f" ({e['faces_per_s_b32'] / first['faces_per_s_b32']:.2f}x)")
            rows.append(f"| {config if i == 0 else ''} | {NAMES.get(name, name)} | {e['faces_per_s_b1']:g}"
                        f"{gain[0] if gain else ''} | {e['faces_per_s_b32']:g}{gain[1] if gain else ''} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", type=Path)
    p.add_argument("--compact", action="store_true", help="CPU: one row per configuration")
    args = p.parse_args()
    report = json.loads(args.json.read_text())
    if "rounds" in report:
        print(ab_table(report))
    elif "gpu" in report["machine"]:
        print(gpu_table(report))
    else:
        print(compact_table(report) if args.compact else cpu_tables(report))


if __name__ == "__main__":
    main()
