#!/usr/bin/env bash
# Trains the bundled models exactly as shipped in engine/models/: events and
# pianoroll on the public-domain JSB Chorales only (each ~10-20 minutes on a
# 2-core machine, one thread each), accompany with roles on JSB and the
# Nottingham lead sheets (scripts/train-events-roles.sh; see its model card).
# Usage: scripts/train-default-models.sh [events|pianoroll|accompany]... (default: all three)
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
  "$nextbeat" train --data "$data/jsb-chorales-16th-satb-midi.tar.gz" --codec events --out "$out/events.nbm" \
    --embed 256 --hidden 256 --layers 2 --dropout 0.3 --batch 16 --window 256 --lr 3e-3 --epochs 40 \
    --patience 6 --transpose 5 --seed 1
}

train_accompany() {
  EPOCHS=${ACCOMPANY_EPOCHS:-25} NEXTBEAT=$nextbeat "$root/scripts/train-events-roles.sh" "$out/accompany.nbm" --max-time 50m
}

for which in "${@:-pianoroll events accompany}"; do
  for w in $which; do "train_$w"; done
done
