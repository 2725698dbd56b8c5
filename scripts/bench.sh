#!/usr/bin/env bash
# The performance figures of nextbeat, side by side in one run on this
# machine (docs/PERFORMANCE.md explains each):
#   1. the live step of the bundled events model: nextbeat's packed step vs
#      the stock torch::nn::LSTM step vs Python eager PyTorch, same weights;
#   2. 10,000 beats at 240 bpm (rollout latency, deadline misses), idle and
#      with `stress-ng --cpu 1` loading the other core;
#   3. a 3 x 512 model in fp32, fp16 and int8;
#   4. training tokens/s: `nextbeat train` vs the same model in a Python loop.
# Prints figures and ratios; judges nothing (machines are shared and noisy:
# compare ratios from one run). Needs a build (scripts/build.sh) and, for the
# Python side, Debian's python3-torch under /usr/bin/python3.
#
# Usage: scripts/bench.sh [--quick]     (--quick: fewer steps and beats)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
nextbeat=${NEXTBEAT:-$root/build/daemon/nextbeat}
data=${NEXTBEAT_SHARED_DATA:-$root/../shared/data}/jsb_chorales/jsb-chorales-16th-satb-midi.tar.gz
py=/usr/bin/python3
steps=20000 beats=10000 big_beats=2000 train_steps=50 py_train_steps=10
if [[ ${1:-} == --quick ]]; then steps=3000 beats=1000 big_beats=300 train_steps=26 py_train_steps=4; fi

[[ -x $nextbeat ]] || { echo "bench: $nextbeat not built (scripts/build.sh)" >&2; exit 1; }
out=$(mktemp -d /tmp/nextbeat-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
model=$("$nextbeat" bench --json --steps 100 --beats 1 --no-stock 2>/dev/null |
  $py -c 'import json,sys; print(json.load(sys.stdin)["model"]["name"])')
model_file=$root/engine/models/events.nbm
echo "bench: results in $out" >&2

echo "[1/6] nextbeat bench (bundled events model, $steps steps, $beats beats)" >&2
"$nextbeat" bench --json --steps "$steps" --beats "$beats" >"$out/live.json"

echo "[2/6] the same, with stress-ng --cpu 1 on the other core" >&2
if command -v stress-ng >/dev/null; then
  stress-ng --cpu 1 --timeout 600 --quiet &
  stress=$!
  sleep 1
  "$nextbeat" bench --json --steps "$steps" --beats "$beats" --no-stock >"$out/stress.json"
  kill "$stress"; wait "$stress" 2>/dev/null || true
else
  echo "  stress-ng is not installed (apt-get install stress-ng): skipped" >&2
  echo '{}' >"$out/stress.json"
fi

echo "[3/6] Python eager PyTorch step, same weights" >&2
$py "$root/scripts/bench_python.py" step --model "$model_file" --steps "$steps" >"$out/python_step.json"

echo "[4/6] a 3 x 512 model: fp32, fp16, int8" >&2
for p in fp32 fp16 int8; do
  "$nextbeat" bench --json --size 3x512 -o model.precision=$p --steps $((steps / 4)) --beats "$big_beats" \
    $([[ $p == fp32 ]] || echo --no-stock) >"$out/big_$p.json"
done

echo "[5/6] nextbeat train, $train_steps steps (batch 16 x 256, JSB chorales)" >&2
(cd "$out" && "$nextbeat" train --data "$data" --codec events --out "$out/train.nbm" --embed 256 --hidden 256 \
  --layers 2 --dropout 0.3 --batch 16 --window 256 --lr 3e-3 --epochs 1 --max-steps "$train_steps" --seed 1 \
  >"$out/train.log" 2>&1)

echo "[6/6] the same model trained in a Python loop, $py_train_steps steps" >&2
$py "$root/scripts/bench_python.py" train --model "$model_file" --steps "$py_train_steps" --batch 16 --window 256 \
  >"$out/python_train.json"

$py - "$out" "$model" <<'EOF'
import json, sys, os
out, model = sys.argv[1], sys.argv[2]
load = lambda n: json.load(open(os.path.join(out, n)))
live, stress, pstep = load("live.json"), load("stress.json"), load("python_step.json")
rt = live["runtime"]
print(f"machine   {rt['cpu']}, {rt['cores']} cores; LibTorch {rt['torch']}; BLAS {rt['blas']}")
print(f"step      {rt['step']}, {rt['threads']} thread(s), {rt['scheduling']}")
print(f"model     {model}: {live['model']['layers']} x {live['model']['hidden']}, "
      f"{live['model']['parameters']} parameters, {live['model']['file_bytes'] // 1024} KiB")
print()
def row(name, d):
    print(f"  {name:32s} p50 {d['p50']:8.1f}  p99 {d['p99']:8.1f}  p99.9 {d['p999']:8.1f}  max {d['max']:9.1f} µs")
print("one step (batch 1, one event, state carried):")
row("nextbeat packed step", live["step_us"])
row("stock LibTorch step (C++ modules)", live["stock_libtorch_step_us"])
row("Python eager PyTorch step", pstep["step_us"])
ours = live["step_us"]["p50"]
print(f"  ratios at p50: {live['stock_libtorch_step_us']['p50'] / ours:.1f}x faster than stock LibTorch, "
      f"{pstep['step_us']['p50'] / ours:.1f}x faster than Python eager")
print()
def live_row(name, r):
    l = r["live"]
    print(f"  {name:22s} {l['beats']} beats at {l['bpm']:.0f} bpm, budget {l['latency_budget_ms']} ms: "
          f"{l['deadline_misses']} misses; rollout p50 {l['rollout_us']['p50'] / 1000:.2f} ms, "
          f"p99 {l['rollout_us']['p99'] / 1000:.2f} ms, max {l['rollout_us']['max'] / 1000:.2f} ms; "
          f"event p99 {l['event_us']['p99']:.0f} µs")
print("live play (accompany):")
live_row("idle machine", live)
if stress:
    live_row("stress-ng --cpu 1", stress)
print(f"  start-up: model ready {live['startup_ms']['model_ready']} ms, {live['startup_ms']['process_to_ready']} ms "
      f"from exec; resident {live['memory_mib']['rss']} MiB (peak {live['memory_mib']['peak_rss']})")
print()
print("3 x 512 events model (fresh weights):")
for p in ("fp32", "fp16", "int8"):
    b = load(f"big_{p}.json")
    d, l = b["step_us"], b["live"]
    extra = ""
    if "stock_libtorch_step_us" in b:
        extra = f"; stock LibTorch p50 {b['stock_libtorch_step_us']['p50']:.0f} µs"
    print(f"  {p}: step p50 {d['p50']:6.1f}  p99 {d['p99']:6.1f} µs, {b['model']['packed_matrix_bytes'] // 1024} KiB "
          f"of weights a step; {l['deadline_misses']} misses in {l['beats']} beats{extra}")
print()
# tokens/s as logged every 25 steps while training (the summary line also counts validation)
train_tps = None
for line in open(os.path.join(out, "train.nbm.metrics.jsonl")):
    j = json.loads(line)
    if "tokens_per_second" in j:
        train_tps = j["tokens_per_second"]
ptrain = load("python_train.json")
print("training (batch 16 x 256, same architecture):")
print(f"  nextbeat train        {train_tps:8.0f} tokens/s (JSB chorales, real targets only)")
print(f"  Python eager loop     {ptrain['tokens_per_second']:8.0f} tokens/s (full windows of random tokens)")
print(f"  ratio: {train_tps / ptrain['tokens_per_second']:.2f}x")
EOF
