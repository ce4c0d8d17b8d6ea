#!/usr/bin/env bash
# What this project runs when it is lent a GPU machine for a few minutes (README: "Training on a lent GPU").
# The data travel as packs made by train/pack.py (tar.gz in .pack/); results go to $OUT (default runs/lent).
#
#   bash train/lent_gpu.sh default MINUTES   # resnet18+meso4 at 128 px, flips vs report augmentation, then each
#                                             # member alone with the winning augmentation (2 runs at a time)
#   bash train/lent_gpu.sh grid MINUTES      # GPU benchmark, then the report's ten configurations at 256 px
#
# MINUTES is the --time-budget of each run. Runs live in /tmp/runs; checkpoints come back as tar chunks of 15 MB.
set -euo pipefail
stage=$1
budget=$2
out=${OUT:-runs/lent}
runs=/tmp/runs
mkdir -p "$out" "$runs"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then  # this project's pinned timm/grad-cam/hub, where the machine has other versions
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

unpack() {  # unpack .pack/NAME.tgz into /tmp and decode it once into the dataset cache, with every core
    tar xzf "${PACKS:-.pack}/$1.tgz" -C /tmp
    python3 - "$1" "$2" <<'EOF'
import sys
from train.data import discover, load_split
from train.fit import CACHE
splits = discover(f"/tmp/{sys.argv[1]}/manifest.csv")
for name, split in splits.items():
    if split.files:
        x, y, _ = load_split(split, int(sys.argv[2]), CACHE, name)
        print(name, x.shape, flush=True)
EOF
}

ship() {  # a checkpoint folder as 15 MB tar chunks (the files that come back are limited to 16 MiB each)
    tar cf - -C "$(dirname "$1")" "$(basename "$1")" | split -b 15M - "$out/$2.tar.part-"
}

best_auc() {  # -1 when the run failed (its log says why)
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['best_val_auc'])" "$1/done.json" 2>/dev/null || echo -1
}

if [ "$stage" = pretrained ]; then
    # packs (train/pack.py, 128 px WebP q80): DATA lists the training packs (train and val splits), EVAL the packs
    # with test splits. ImageNet weights come from the installed packages (or a folder of them on PYTHONPATH).
    read -r -a data <<< "${DATA:?DATA: the training packs}"
    read -r -a evals <<< "${EVAL:-}"
    python3 -m train.lent_table --decode --val "${data[@]}"
    common=(--data "${data[@]}" --img-size 128 --epochs 40 --lr-step 3 --patience 5 --batch-size 128 --workers 3
            --precision bf16 --augment light)
    run() {  # NAME MINUTES fit-args...
        local name=$1 minutes=$2
        shift 2
        python3 train/fit.py "${common[@]}" --time-budget "$minutes" --out "$runs/$name" "$@" ${FIT_EXTRA:-} \
            > "$runs/$name.log" 2>&1
    }
    run lite0 "$budget" --backbones efficientnet_lite0 --pretrained --lr 5e-4 &
    run lite2 "$budget" --backbones efficientnet_lite2 --pretrained --lr 5e-4 &
    run resnet18 "$budget" --backbones resnet18 --lr 1e-3 &
    run lite0-resnet18-e2e "$budget" --backbones efficientnet_lite0 resnet18 --pretrained efficientnet_lite0 \
        --lr 5e-4 &
    run lite0-lite2-e2e "$budget" --backbones efficientnet_lite0 efficientnet_lite2 --pretrained --lr 5e-4 &
    wait
    head=(--freeze-backbones --lr 1e-3 --epochs 6 --lr-step 2 --patience 2)
    run lite0-lite2-stack "${HEAD_MINUTES:-0.6}" --backbones efficientnet_lite0 efficientnet_lite2 "${head[@]}" \
        --init-backbones "$runs/lite0/best" "$runs/lite2/best" &
    run lite0-resnet18-stack "${HEAD_MINUTES:-0.6}" --backbones efficientnet_lite0 resnet18 "${head[@]}" \
        --init-backbones "$runs/lite0/best" "$runs/resnet18/best" &
    wait
    tail -n 2 "$runs"/*.log
    python3 -m train.lent_table --runs "$runs" --val "${data[@]}" --test "${evals[@]}" --out "$out" \
        --ship ${SHIP:-lite0 lite2} --ship-best-fusion
elif [ "$stage" = report-grid ]; then
    # the report's ten configurations from scratch, all at once, on one OpenForensics pack (train/val/test)
    pack=${DATA:?DATA: the pack}
    python3 -m train.lent_table --decode --val "$pack"
    for config in xception densenet121 resnet50 meso4 meso4+resnet50 meso4+densenet121 meso4+xception \
                  xception+resnet50 xception+densenet121 resnet50+densenet121; do
        python3 train/fit.py --data "$pack" --img-size 128 --epochs 40 --lr 1e-3 --lr-step 3 --patience 5 \
            --batch-size 64 --workers 1 --precision bf16 --augment report --time-budget "$budget" \
            --backbones ${config//+/ } --out "$runs/$config" > "$runs/$config.log" 2>&1 &
    done
    wait
    tail -n 1 "$runs"/*.log
    python3 -m train.lent_table --runs "$runs" --val "$pack" --test "$pack" --out "$out"
elif [ "$stage" = default ]; then
    unpack dfdc128 128
    common=(--data /tmp/dfdc128 --img-size 128 --epochs 30 --lr-step 6 --patience 6 --batch-size 128
            --workers 7 --precision bf16 --time-budget "$budget")
    for aug in flip report; do
        python3 train/fit.py "${common[@]}" --backbones resnet18 meso4 --augment $aug --out $runs/fusion-$aug \
            > "$runs/fusion-$aug.log" 2>&1 &
    done
    wait
    flip=$(best_auc $runs/fusion-flip); report=$(best_auc $runs/fusion-report)
    aug=$(python3 -c "print('flip' if $flip >= $report else 'report')")
    echo "validation AUC: flip $flip, report $report -> $aug"
    for member in resnet18 meso4; do
        python3 train/fit.py "${common[@]}" --backbones $member --augment $aug --out $runs/$member-$aug \
            > "$runs/$member-$aug.log" 2>&1 &
    done
    wait
    ship $runs/fusion-$aug/best fusion-$aug
    ship $runs/meso4-$aug/best meso4-$aug
    tail -n 3 $runs/*.log
    for r in $runs/*/log.jsonl; do echo "== $r"; cat "$r"; done | tee "$out/logs.txt"
elif [ "$stage" = grid ]; then
    default=$(ls -d $runs/fusion-*/best 2>/dev/null | head -1 || true)
    if [ -n "$default" ]; then export DEEPFAKE_DEFAULT_MODEL=$default; fi
    python3 benchmarks/bench.py --quick --skip-e2e --paths cuda_fp32 cuda_fp16 cuda_bf16_cl \
        --json "$out/bench-gpu.json" ${BENCH_ARGS:-} > "$runs/bench.log" 2>&1 \
        || tail -n 20 "$runs/bench.log"
    unpack grid 256
    groups=("xception meso4" "densenet121 xception+densenet121" "resnet50 xception+resnet50"
            "meso4+resnet50 resnet50+densenet121" "meso4+densenet121 meso4+xception")
    if [ -n "${GRID_GROUPS:-}" ]; then IFS='|' read -r -a groups <<< "$GRID_GROUPS"; fi  # a smaller grid
    fit_args=(--time-budget "$budget" --workers 3 --batch-size 64 --precision bf16 --lr-step 6 --patience 6)
    for g in "${groups[@]}"; do
        python3 train/grid.py --data /tmp/grid --img-size 256 --epochs 30 --out /tmp/grid-runs \
            --configs $g -- "${fit_args[@]}" > "$runs/grid-${g// /_}.log" 2>&1 &
    done
    wait
    # one more pass over every finished run writes the whole table (runs are skipped, only evaluated)
    python3 train/grid.py --data /tmp/grid --img-size 256 --epochs 30 --out /tmp/grid-runs \
        --configs ${groups[*]} -- "${fit_args[@]}" > "$runs/grid.log" 2>&1
    cp /tmp/grid-runs/table.md /tmp/grid-runs/table.json "$out/"
    for r in /tmp/grid-runs/*/log.jsonl; do echo "== $r"; cat "$r"; done > "$out/grid-logs.txt"
    tail -n 2 $runs/*.log
    for member in $runs/resnet18-*/best; do [ -d "$member" ] && ship "$member" "$(basename "$(dirname "$member")")"; done
fi
ls -la "$out"
