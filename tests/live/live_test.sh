#!/usr/bin/env bash
# The real `nextbeat run` against real peers on a private `jackd -d dummy`
# (run through tests/tools/with_jackd.sh): a JACK MIDI performer and listener
# (performer.py), oscsend/oscdump (liblo-tools), Pure Data over OSC and a
# jack_rec recording of nextbeat's FluidSynth audio. Prints the latency
# figures (nextbeat's /nextbeat/status and the onset error heard through JACK).
#
# live_test.sh NEXTBEAT SOURCE_DIR
set -uo pipefail
nextbeat=$1
src=$2
here=$src/tests/live
py=/usr/bin/python3
fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/log "$tmp"/osc.txt; do [ -f "$f" ] && { echo "--- $f" >&2; tail -40 "$f" >&2; }; done
  exit 1
}
skip() { echo "SKIP: $*"; exit 77; }
for tool in oscsend oscdump jack_rec jack_lsp pd; do command -v $tool >/dev/null || skip "$tool not installed"; done
$py -c "import rtmidi, numpy" 2>/dev/null || skip "python3-rtmidi or numpy missing for /usr/bin/python3"

tmp=$(mktemp -d)
pid= dump= peer= rec=
cleanup() {
  [ -n "$peer" ] && { echo quit >&7; wait "$peer"; } 2>/dev/null
  for p in $rec $dump $pid; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

osc_port=$($py "$src/tests/tools/free_udp_port.py") || fail "no free UDP port"
reply_port=$((osc_port + 1))
bpm=120
max_note_beats=2.0
cat >"$tmp/live.toml" <<TOML
[osc]
port = $osc_port
reply_port = $reply_port

[audio]
enabled = true
api = "jack"

[clock]
tempo_bpm = $bpm.0
send_midi_clock = true

[engine]
mode = "continue"
gap_beats = 1.0
max_note_beats = $max_note_beats

[midi]
inputs = ["performer"]   # follows the performer's port when it appears (hot-plug)

[sampling]
seed = 11
density = 2.0
TOML

oscdump -L "$reply_port" >"$tmp/osc.txt" 2>&1 &
dump=$!
"$nextbeat" run --config "$tmp/live.toml" --log-level debug >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q "\] ready$" "$tmp/log" && break; kill -0 $pid 2>/dev/null || fail "nextbeat exited"; sleep 0.1; done
grep -q "\] ready$" "$tmp/log" || fail "nextbeat never got ready"
grep -q "MIDI in.*nextbeat in" "$tmp/log" || fail "the log does not say where to connect MIDI"
grep -qi "audio" "$tmp/log" || fail "no word about audio"

# Polls for what the daemon says over OSC (10 s at most): never a fixed sleep.
expect_osc() {  # expect_osc REGEX [AFTER_LINE]
  for _ in $(seq 100); do
    tail -n +"${2:-1}" "$tmp/osc.txt" | grep -Eq -- "$1" && return 0
    sleep 0.1
  done
  fail "no OSC reply matching '$1'"
}
send() { oscsend 127.0.0.1 "$osc_port" "$@" || fail "oscsend $* failed"; }

# --- 1. MIDI in -> predicted notes out, on the beat ----------------------------
mkfifo "$tmp/peer.in"
$py "$here/performer.py" "nextbeat in" "nextbeat out" <"$tmp/peer.in" >"$tmp/peer.out" 2>&1 &
peer=$!
exec 7>"$tmp/peer.in"
declare -A answers=()
expect_peer() {  # expect_peer WORD: the performer answered WORD once more (30 s at most)
  local want=$((${answers[$1]:-0} + 1))
  for _ in $(seq 300); do
    if [ "$(grep -c "^$1\$" "$tmp/peer.out")" -ge $want ]; then answers[$1]=$want; return 0; fi
    kill -0 $peer 2>/dev/null || fail "performer.py exited: $(cat "$tmp/peer.out")"
    sleep 0.1
  done
  fail "performer.py never said '$1': $(cat "$tmp/peer.out")"
}
expect_peer ready
for _ in $(seq 150); do grep -q "MIDI input connected: performer:keys" "$tmp/log" && break; sleep 0.1; done
grep -q "MIDI input connected: performer:keys" "$tmp/log" || fail "nextbeat did not follow the performer's port"
echo "play 8 $bpm" >&7
expect_peer done
echo "wait 4" >&7   # the performer pauses: nextbeat plays on
expect_peer done
echo "play 4 $bpm" >&7  # and stops when the performer plays again
expect_peer done
echo "wait 3" >&7
expect_peer done

# --- 2. OSC: a control and its echo, a refused message ------------------------
send /nextbeat/temperature f 0.5
send /nextbeat/temperature f 12
send /nextbeat/nosuch i 1
send /nextbeat/mode s accompany
expect_osc '/nextbeat/temperature f 0.5'
expect_osc '/nextbeat/mode s "accompany"'
expect_osc '/nextbeat/error s "/nextbeat/temperature: expected a number in 0.01..10, got 12"'
expect_osc '/nextbeat/error s "/nextbeat/nosuch'
grep -q '/nextbeat/out/note iii' "$tmp/osc.txt" || fail "no /nextbeat/out/note"
grep -q '/nextbeat/beat i' "$tmp/osc.txt" || fail "no /nextbeat/beat"

# --- 3. Pure Data sends notes over OSC -----------------------------------------
before=$(grep -c "" "$tmp/osc.txt")
timeout 20 pd -nogui -nosound -nomidi -open "$src/tests/io/osc_phrase.pd" -send "nextbeat-port $osc_port" >"$tmp/pd.log" 2>&1 ||
  fail "pd failed: $(cat "$tmp/pd.log")"
send /nextbeat/status
expect_osc '/nextbeat/status' "$before"
status=$(tail -n +"$before" "$tmp/osc.txt" | grep '/nextbeat/status' | tail -1)
[ -n "$status" ] || fail "no /nextbeat/status reply"
notes_in=$(echo "$status" | sed -E 's/.*"notes_in" ([0-9]+).*/\1/')
[ "$notes_in" -ge 15 ] || fail "notes from Pd not counted: $status"   # 12 from MIDI + 3 note-ons from Pd

# --- 4. Audio through RtAudio's JACK API: not silent, the expected pitch -------
# Every note nextbeat plays is A4 now (pitch range 69..69), in accompany mode.
send /nextbeat/pitch_min i 69
send /nextbeat/pitch_max i 69
send /nextbeat/density f 4
echo "wait 1" >&7
expect_peer done
jack_lsp | grep -q "^nextbeat-audio:" || fail "no nextbeat-audio JACK ports: $(jack_lsp)"
mapfile -t ports < <(jack_lsp | grep "^nextbeat-audio:" | head -2)  # names hold spaces ("outport 0")
jack_rec -f "$tmp/audio.wav" -d 4 -b 16 "${ports[@]}" >"$tmp/rec.log" 2>&1 &
rec=$!
echo "play 8 $bpm" >&7
expect_peer done
wait $rec || fail "jack_rec failed: $(cat "$tmp/rec.log")"
rec=
$py "$here/pitch.py" "$tmp/audio.wav" 440 || fail "audio check"

# --- 5. A live model swap to the other codec, and it goes on playing -----------
send /nextbeat/pitch_min i 21
send /nextbeat/pitch_max i 108
send /nextbeat/model s default:pianoroll
send /nextbeat/model s /no/such/model.nbm
expect_osc '/nextbeat/model s "default:pianoroll"'
# Refused: outside [model] dirs (or, sent right after the swap, while it loads).
expect_osc '/nextbeat/error s "/nextbeat/model: .*(\[model\] dirs|a model is loading)'
for _ in $(seq 100); do grep -q "model swapped to default:pianoroll" "$tmp/log" && break; sleep 0.1; done
grep -q "model swapped to default:pianoroll" "$tmp/log" || fail "no log line for the swap"
echo "play 6 $bpm" >&7  # on the new model (analyse.py: it plays during this segment)
expect_peer done
# What runs is the new model: /nextbeat/status says so.
before=$(grep -c "" "$tmp/osc.txt")
send /nextbeat/status
expect_osc '/nextbeat/status.*"model" "default:pianoroll"' "$before"

# --- 6. SIGTERM: stops within a second, every note ended -----------------------
echo "mark term" >&7
expect_peer marked
start=$(date +%s%N)
kill -TERM $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.02; done
kill -0 $pid 2>/dev/null && fail "still running 1 s after SIGTERM"
wait $pid || fail "nextbeat exited $? after SIGTERM"
pid=
echo "stopped in $(( ($(date +%s%N) - start) / 1000000 )) ms after SIGTERM"
echo "wait 0.5" >&7
expect_peer done
echo "report $tmp/heard.json" >&7
expect_peer reported
# Segments (performer.py): 0 play 8, 1 wait 4, 2 play 4, 3 wait 3 (continue
# mode), 4 wait 1, 5 play 8 (accompany, A4 only), 6 play 6 (accompany, the
# pianoroll model), 7 wait 0.5 (after SIGTERM).
$py "$src/tests/live/analyse.py" "$tmp/heard.json" $bpm $max_note_beats --plays 1 --quiet 2 --plays 3 --plays 5 \
  --plays 6 || fail "what the listener heard"

echo "nextbeat's own figures (/nextbeat/status):"
grep '/nextbeat/status' "$tmp/osc.txt" | tail -1 | sed -E 's/^[^"]*//'
echo "live: ok"
