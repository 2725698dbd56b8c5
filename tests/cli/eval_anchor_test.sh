#!/usr/bin/env bash
# The frame-nll protocol reproduces its published anchor: independent
# per-key train-set marginals on the JSB test split, 11.10 nats
# (../shared/data/README.md). Reads the shared data, which a clone does not
# have: CMake runs it through skip_unless.sh, which skips it then.
set -uo pipefail
nextbeat=$1
jsb=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$nextbeat" eval --baseline marginals --data "$jsb" --json >"$tmp/base.json" 2>"$tmp/err" \
  || fail "baseline: $(cat "$tmp/err")"
/usr/bin/python3 -c "import json,sys; r=json.load(open('$tmp/base.json')); assert abs(r['nll']-11.10) < 0.01, r" \
  || fail "marginals anchor: $(cat "$tmp/base.json")"
echo "eval anchor: ok"
