#!/usr/bin/env bash
# Trains the bundled models exactly as shipped in engine/models/: events with
# roles on JSB and the Nottingham lead sheets (scripts/train-events-roles.sh,
# one hour on a 2-core machine; see its model card; default:accompany names
# the same model), and pianoroll on the public-domain JSB Chorales only
# (~20 minutes, one thread).
# Usage: scripts/train-default-models.sh [events|pianoroll]... (default: both)
# Writes to engine/models/ (set OUT_DIR to write elsewhere).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${NEXTBEAT_SHARED_DATA:-$root/../shared/data}/jsb_chorales
out=${OUT_DIR:-$root/engine/models}
nextbeat=${NEXTBEAT:-$root/build/daemon/nextbeat}
mkdir -p "$out"

train_pianoroll() {
  "$nextbeat" train --data "$data/jsb-chorales-quarter.json" --codec pianoroll --steps-per-beat 1 \
    --out "$out/pianoroll.nbm" --embed 128 --hidden 256 --layers 2 --dropout 0.4 --batch 8 --lr 3e-3 \
    --epochs 120 --patience 15 --seed 1
}
train_events() {
  EPOCHS=${EVENTS_EPOCHS:-25} NEXTBEAT=$nextbeat "$root/scripts/train-events-roles.sh" "$out/events.nbm" --max-time 60m
}

for which in "${@:-pianoroll events}"; do
  for w in $which; do "train_$w"; done
done
