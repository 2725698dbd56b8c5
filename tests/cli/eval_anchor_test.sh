#!/usr/bin/env bash
# The frame-nll protocol reproduces its published anchor: independent
# per-key train-set marginals on the JSB test split, 11.10 nats
# (../shared/data/README.md). Reads the shared data, which a clone does not
# have: CMake runs it through skip_unless.sh, which skips it then.
set -uo pipefail
nextbeat=$1
jsb=$2
report=$("$nextbeat" eval --baseline marginals --data "$jsb" --json) || { echo "FAIL: baseline" >&2; exit 1; }
/usr/bin/python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert abs(r['nll']-11.10) < 0.01, r" "$report" \
  || { echo "FAIL: marginals anchor: $report" >&2; exit 1; }
echo "eval anchor: ok"
