#!/usr/bin/env bash
# Piano-roll recipes for the published frame-NLL benchmark
# (../shared/data/README.md), each within a 30-minute budget on a 2-core
# machine with one LibTorch thread (`--max-time`: the run stops there with the
# best model saved, and the learning-rate cosine ends at the budget).
# Usage: scripts/train-pianoroll.sh nottingham|jsb [OUT.nbm] [extra train options...]
#   nottingham: ../shared/data/nottingham/nottingham-pianoroll-{train,valid}.json
#               (eighth-note frames: --steps-per-beat 2)
#   jsb:        ../shared/data/jsb_chorales/jsb-chorales-quarter.json (quarter notes)
# Environment: NEXTBEAT (the binary), NEXTBEAT_SHARED_DATA, MAX_TIME (default 30m).
# Measure the result with `nextbeat eval --model OUT.nbm --data <the valid or test json>`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${NEXTBEAT_SHARED_DATA:-$root/../shared/data}
nextbeat=${NEXTBEAT:-$root/build/daemon/nextbeat}
which=${1:?usage: train-pianoroll.sh nottingham|jsb [OUT.nbm] [train options...]}
out=${2:-$which-pianoroll.nbm}
shift $(( $# >= 2 ? 2 : 1 ))
budget=${MAX_TIME:-30m}

case $which in
  nottingham)
    exec "$nextbeat" train --codec pianoroll --steps-per-beat 2 \
      --data "$data/nottingham/nottingham-pianoroll-train.json" \
      --data "$data/nottingham/nottingham-pianoroll-valid.json" \
      --out "$out" --embed 128 --hidden 256 --layers 2 --dropout 0.3 --batch 8 --window 128 --lr 3e-3 \
      --warmup 100 --epochs 1000 --patience 1000 --max-time "$budget" --threads 1 --seed 1 "$@"
    ;;
  jsb)
    exec "$nextbeat" train --codec pianoroll --steps-per-beat 1 --data "$data/jsb_chorales/jsb-chorales-quarter.json" \
      --out "$out" --embed 128 --hidden 256 --layers 2 --dropout 0.4 --batch 8 --lr 3e-3 \
      --warmup 100 --epochs 1000 --patience 1000 --max-time "$budget" --threads 1 --seed 1 "$@"
    ;;
  *) echo "train-pianoroll.sh: unknown data set '$which' (nottingham | jsb)" >&2; exit 2 ;;
esac
