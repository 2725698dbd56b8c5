#!/usr/bin/env bash
# `nextbeat bench` reports every figure it promises, in text and JSON, for
# both bundled models, fp32 and int8 (values are figures: only their presence
# and sanity are checked, never their speed), and refuses bad input clearly.
set -uo pipefail
nextbeat=$1
root=$2
py=/usr/bin/python3
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check_json() {  # file, expected step description, expected codec
  $py - "$1" "$2" "$3" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
def need(ok, what):
    if not ok:
        sys.exit(f"FAIL: bench JSON: {what}: {json.dumps(r)[:400]}")
for key in ("count", "p50", "p99", "p999", "max"):
    need(key in r["step_us"], f"step_us.{key}")
need(0 < r["step_us"]["p50"] <= r["step_us"]["p99"] <= r["step_us"]["p999"] <= r["step_us"]["max"], "step order")
need(r["step_us"]["count"] == 300, "300 steps timed")
need(sys.argv[2] in r["runtime"]["step"], "step path " + sys.argv[2])
need(r["model"]["codec"] == sys.argv[3], "codec")
need(r["runtime"]["blas"] != "", "BLAS named")
need(r["runtime"]["device"] == "cpu" or r["runtime"]["cuda_available"], "device")
need(r["model"]["parameters"] > 0 and r["model"]["file_bytes"] > 0 and r["model"]["packed_matrix_bytes"] > 0, "sizes")
live = r["live"]
need(live["beats"] == 40 and live["bpm"] == 240, "40 beats at 240 bpm")
need(live["predictions"] + live["deadline_misses"] >= 39, "a prediction or a miss for every beat")
need(live["rollout_us"]["count"] >= 39 and live["rollout_us"]["p50"] > 0, "rollout latencies")
need(live["event_us"]["count"] > 0, "event latencies")
need(r["startup_ms"]["model_ready"] > 0 and r["memory_mib"]["rss"] > 0, "start-up and memory")
PY
}

"$nextbeat" bench --json --steps 300 --beats 40 -o model.precision=fp32 >"$tmp/events.json" ||
  fail "bench --json exited non-zero"
check_json "$tmp/events.json" "packed fp32" events
# The default, precision auto: the line says what it measured and which it took.
"$nextbeat" bench --json --steps 300 --beats 40 --no-stock >"$tmp/auto.json" || fail "bench (auto) exited non-zero"
check_json "$tmp/auto.json" "(auto: fp32 " events
"$nextbeat" bench --json --steps 300 --beats 40 --model default:pianoroll -o model.precision=int8 --no-stock \
  >"$tmp/roll.json" || fail "bench on default:pianoroll, int8 exited non-zero"
check_json "$tmp/roll.json" "packed int8" pianoroll
grep -q stock_libtorch_step_us "$tmp/roll.json" && fail "--no-stock still ran the stock step"

text=$("$nextbeat" bench --steps 300 --beats 40) || fail "bench (text) exited non-zero"
for line in "^model " "^runtime " "^step .*p50" "^stock step" "^live .*deadline misses" "^rollout " "^memory "; do
  grep -qE "$line" <<<"$text" || fail "bench text has no line matching '$line'"
done

# Bad input: the file and what is wrong, non-zero, nothing on stdout.
printf '[model]\nprecision = "int4"\n' >"$tmp/bad.toml"
out=$("$nextbeat" bench --config "$tmp/bad.toml" 2>"$tmp/err") && fail "a bad config was accepted"
[ -z "$out" ] || fail "bench with a bad config wrote to stdout"
grep -q "bad.toml:2" "$tmp/err" && grep -q "model.precision" "$tmp/err" || fail "no file:line/key in: $(cat "$tmp/err")"
"$nextbeat" bench --model /nonexistent.nbm 2>"$tmp/err" && fail "a missing model was accepted"
grep -q "/nonexistent.nbm" "$tmp/err" || fail "the missing model is not named: $(cat "$tmp/err")"
echo "bench: ok"
