#!/usr/bin/env bash
# Score one checkpoint on every test set the README reports, once each (the numbers of its Results section).
#
#   train/evaluate_all.sh MODEL OUT [SYNTHETIC_MANIFEST] [VIDEOS_MANIFEST]
#
# Data: ../shared/data (see its README); SYNTHETIC_MANIFEST and VIDEOS_MANIFEST are the manifest.csv files that
# ../shared/data/synthetic-faces/extract.py and ../shared/data/videos/extract.py wrote (skipped when not given).
# The product path comes first: photos through the app's face pipeline, clips through analyze_video; then the
# figures on crops as given. Each set lands in OUT/<name>/.
set -euo pipefail
model=${1:?MODEL}; out=${2:?OUT}; synth=${3:-}; videos=${4:-}
data=$(cd "$(dirname "$0")/../.." && pwd)/shared/data
py=${PYTHON:-python}
run() { name=$1; shift; echo "== $name"; "$py" train/evaluate.py --model "$model" --out "$out/$name" "$@" | tail -n 30; }
run of-test-faces --data "$data/openforensics-test" --split test --detect-faces
if [ -n "$synth" ]; then run synth-test --data "$synth" --split test --detect-faces; fi
if [ -n "$videos" ]; then run clips-test --data "$videos" --split test; fi
run dfdc-videos --data "$data/dfdc-videos" --split test
run of-test --data "$data/openforensics-test" --split test
run dfdc-test --data "$data/dfdc-faces" --split test
run yonsei --data "$data/yonsei-real-fake-faces" --split all
