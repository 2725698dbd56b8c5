#!/usr/bin/env bash
# Keeping the take, and changes landing on the bar, against real peers: a
# private `jackd -d dummy`, a JACK performer (jack_peer.py) that nextbeat
# follows and that hears what nextbeat plays. Asserted from the outside:
#   - /nextbeat/record s NAME answers with the path; status says recording;
#     /nextbeat/record/stop answers with the path and the note counts;
#   - the file, read by mido (check_take.py): format 1, tracks "tempo",
#     "performer", "nextbeat", the performer's notes and nextbeat's there,
#     every note-on with its note-off, a tempo change sent mid-take in the
#     tempo map; read by nextbeat's own reader too
#     (`nextbeat generate --prime` continues it);
#   - a mode switch sent mid-bar while the performer plays is echoed on
#     /nextbeat/mode/applied with the beat it took effect on: a bar line;
#   - names that would leave record_dir, a name taken, a stop with nothing
#     recording: refused with /nextbeat/error;
#   - [session] record = true records from start-up, and SIGTERM closes the
#     file with every note ended.
# record_test.sh NEXTBEAT
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/jack_lib.sh"
/usr/bin/python3 -c "import mido" 2>/dev/null || { echo "SKIP: needs python3-mido for /usr/bin/python3"; exit 77; }
start_replies
takes=$tmp/takes

write_config() {  # write_config RECORD(true|false)
  cat >"$tmp/cfg.toml" <<TOML
[osc]
port = $osc_port
reply_port = $reply_port
[clock]
tempo_bpm = 120.0
beats_per_bar = 4
[engine]
mode = "continue"
gap_beats = 1.0
max_note_beats = 1.0
quantize = "bar"
[midi]
inputs = ["performer"]
output = "listener"
[sampling]
seed = 7
density = 2.0
[session]
record = $1
record_dir = "$takes"
TOML
}
nextbeat_notes_heard() { awk '$2 >= 144 && $2 < 160 && $4 > 0' "$1" | wc -l; }
errors() { grep -c '/nextbeat/error' "$tmp/replies"; }
expect_error() {  # expect_error REGEX: a new /nextbeat/error matching REGEX
  local before=$1 regex=$2
  wait_until 10 'test "$(errors)" -gt '"$before" || fail "no /nextbeat/error for $regex"
  grep '/nextbeat/error' "$tmp/replies" | tail -1 | grep -q -- "$regex" || fail "error does not match '$regex'"
}

start_jackd
start_peer "$tmp/heard"
write_config false
start_daemon --config "$tmp/cfg.toml"
wait_until 10 'grep -q "MIDI input connected: performer:keys" "$log"' || fail "the performer's port is not followed"

# --- A take by name -------------------------------------------------------------
oscsend 127.0.0.1 "$osc_port" /nextbeat/record s take1
expect_reply "/nextbeat/record s \"$takes/take1.mid\""
echo "play 12 120" >&7
sleep 1.3  # mid-bar, the performer playing
oscsend 127.0.0.1 "$osc_port" /nextbeat/mode s accompany
expect_reply '/nextbeat/mode/applied sii "accompany"'
applied=$(grep '/nextbeat/mode/applied' "$tmp/replies" | tail -1)
beat=$(awk '{print $5}' <<<"$applied")
bar=$(awk '{print $6}' <<<"$applied")
((beat % 4 == 0)) || fail "the mode switch took effect on beat $beat, not on a bar line ($applied)"
((bar == beat / 4)) || fail "bar $bar is not beat $beat / 4"
echo "mode switch requested mid-bar took effect on beat $beat (bar $bar)"
# The tempo map as played: 120 bpm, then 150.
oscsend 127.0.0.1 "$osc_port" /nextbeat/tempo f 150
peer_says done
wait_until 15 'test "$(nextbeat_notes_heard "$tmp/heard")" -ge 4' || fail "nextbeat played fewer than 4 notes"
ask_status
[ "$(status_field recording)" = 1 ] || fail "status does not say recording"
[ "$(status_field record_dropped)" = 0 ] || fail "the tap dropped events"
oscsend 127.0.0.1 "$osc_port" /nextbeat/record/stop
expect_reply "/nextbeat/record/stop siii \"$takes/take1.mid\""
grep '/nextbeat/record/stop' "$tmp/replies" | tail -1
ask_status
[ "$(status_field recording)" = 0 ] || fail "status still says recording"
/usr/bin/python3 "$here_cli/check_take.py" "$takes/take1.mid" --performer 12 --nextbeat 4 --tempos 2 || fail "take1.mid (mido)"
"$nextbeat" generate --prime "$takes/take1.mid" --beats 4 --seed 3 --out "$tmp/continued.mid" >"$tmp/generate.log" 2>&1 ||
  fail "nextbeat generate could not read take1.mid: $(cat "$tmp/generate.log")"

# --- Refusals ---------------------------------------------------------------------
n=$(errors); oscsend 127.0.0.1 "$osc_port" /nextbeat/record/stop; expect_error "$n" "not recording"
n=$(errors); oscsend 127.0.0.1 "$osc_port" /nextbeat/record s ../outside; expect_error "$n" "plain file name"
n=$(errors); oscsend 127.0.0.1 "$osc_port" /nextbeat/record s take1; expect_error "$n" "exists"
[ ! -e "$tmp/outside.mid" ] || fail "a take was written outside record_dir"

# --- Recording from start-up, closed by SIGTERM ---------------------------------------
stop_daemon
write_config true
start_daemon --config "$tmp/cfg.toml"
expect_reply "/nextbeat/record s \"$takes/take-"
wait_until 10 'grep -q "MIDI input connected: performer:keys" "$log"' || fail "the performer's port is not followed"
heard_before=$(nextbeat_notes_heard "$tmp/heard")
echo "play 6 120" >&7
peer_says done
wait_until 15 'test "$(nextbeat_notes_heard "$tmp/heard")" -ge $((heard_before + 4))' || fail "nextbeat did not play on"
stop_daemon  # SIGTERM, nextbeat's notes still coming
take=$(ls "$takes"/take-*.mid | head -1)
[ -n "$take" ] || fail "no timestamped take in $takes"
grep -q "recording stopped: $take" "$log" || fail "the log does not say the take was closed"
/usr/bin/python3 "$here_cli/check_take.py" "$take" --performer 6 --nextbeat 1 || fail "$take (mido)"
echo "PASS"
