#!/usr/bin/env bash
# Trains an events model with roles (nextbeat train --roles): the performer's
# part is listened to, the other parts are what the model learns to play.
# Data, train splits only: JSB Chorales as SATB MIDI (the soprano is the
# performer, alto, tenor and bass are nextbeat's; Bach, public domain) and
# the Nottingham lead sheets (midi/: the melody is the performer, the chords
# nextbeat's; jukedeck's files are GPLv3, the tunes traditional).
#
# Augmentation: five transpositions either way; --solo-copies (each file also
# with every part nextbeat's, so that the model plays alone too); and
# --off-grid-performer (half the train files have the performer's part moved
# off the beat grid, so that the model keeps playing when the performer does
# not share nextbeat's beat).
#
# The model learns nextbeat's own time (ModelSpec::own_time): at every step
# its target is nextbeat's next event, across the performer's notes.
#
# Usage: scripts/train-events-roles.sh [OUT.nbm] [extra train options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${NEXTBEAT_SHARED_DATA:-$root/../shared/data}
nextbeat=${NEXTBEAT:-$root/build/daemon/nextbeat}
out=${1:-events-roles.nbm}
shift || true
exec "$nextbeat" train --data "$shared/jsb_chorales/jsb-chorales-16th-satb-midi.tar.gz" \
  "$shared/nottingham/nottingham-jukedeck-trainvalid.tar.gz" \
  --include 'jsb-chorales-16th-satb-midi/*.mid' --include '*/midi/*.mid' --roles \
  --codec events --out "$out" --embed 256 --hidden 256 --layers 2 --dropout 0.3 --batch 16 --window 256 \
  --solo-copies --off-grid-performer --lr 3e-3 --epochs "${EPOCHS:-10}" --patience 4 --transpose 5 --seed 1 --threads 2 "$@"
