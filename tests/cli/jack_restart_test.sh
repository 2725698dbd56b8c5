#!/usr/bin/env bash
# The JACK server killed (SIGKILL) and started again while nextbeat plays:
# nextbeat says so once, plays on (beats to OSC), and once a server of the
# same name is back, its MIDI in, MIDI out and audio come back by themselves,
# with no restart of nextbeat. Asserted from the outside:
#   - while JACK is down: /nextbeat/status says jack "down" and beats still come over OSC;
#   - after: status shows midi_in, midi_out and audio (its block count moving) again;
#   - MIDI out: the recorder hears all-notes-off (CC 123) before the first new note,
#     and then new notes; MIDI in: the performer's notes count in notes_in again;
#   - no stuck note: in what the recorder heard, every note-on has its note-off
#     (after /nextbeat/mute, before SIGTERM's sweep).
# jack_restart_test.sh NEXTBEAT
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/jack_lib.sh"
start_replies

cat >"$tmp/cfg.toml" <<TOML
[osc]
port = $osc_port
reply_port = $reply_port
[audio]
enabled = true
api = "jack"
[clock]
tempo_bpm = 120.0
[engine]
mode = "continue"
gap_beats = 1.0
max_note_beats = 1.0
[midi]
inputs = ["performer"]
output = "listener"
[sampling]
seed = 7
density = 2.0
TOML

# nextbeat's own notes heard by the recorder after line $1 of RECORD.
notes_heard() {  # notes_heard RECORD: note-ons (velocity > 0) nextbeat played
  awk '$2 >= 144 && $2 < 160 && $4 > 0' "$1" | wc -l
}

start_jackd
start_peer "$tmp/heard1"
start_daemon --config "$tmp/cfg.toml"
grep -q "MIDI out: playing to \"listener:ears\"" "$log" || fail "MIDI out did not connect to the recorder"
wait_until 10 'grep -q "MIDI input connected: performer:keys" "$log"' || fail "the performer's port is not followed"
echo "play 4 120" >&7
peer_says done
wait_until 15 'test "$(notes_heard "$tmp/heard1")" -ge 2' || fail "no notes heard before the JACK server was killed"
ask_status
[ "$(status_field audio)" = 1 ] || fail "audio not running at start"
[ "$(status_field jack)" = up ] || fail "status does not say jack up"

# --- The server dies ----------------------------------------------------------
killed_at=$(date +%s%N)
kill_jackd KILL
kill_peer
wait_until 10 'grep -q "JACK server stopped" "$log"' || fail "nextbeat did not notice the JACK server stopped"
beats=$(grep -c '/nextbeat/beat' "$tmp/replies")
wait_until 10 'test "$(grep -c /nextbeat/beat "$tmp/replies")" -ge $((beats + 2))' || fail "no beats over OSC while JACK is down"
ask_status
[ "$(status_field jack)" = down ] || fail "status does not say jack down"
[ "$(grep -c "JACK server stopped: MIDI in, MIDI out, audio off" "$log")" = 1 ] || fail "not said once"

# --- The server is back (same name) -----------------------------------------------
start_jackd
started_at=$(date +%s%N)
start_peer "$tmp/heard2"
wait_until 20 'grep -q "JACK server back" "$log"' || fail "MIDI and audio did not come back by themselves"
back_ms=$((($(date +%s%N) - started_at) / 1000000))
ask_status
[ "$(status_field jack)" = up ] || fail "status does not say jack up again"
[ "$(status_field midi_in)" = 1 ] && [ "$(status_field midi_out)" = 1 ] || fail "MIDI in/out not open again"
[ "$(status_field audio)" = 1 ] || fail "audio not running again"
blocks=$(status_field audio_blocks)
ok=
for _ in $(seq 50); do
  ask_status
  [ "$(status_field audio_blocks)" -gt "$blocks" ] && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || fail "audio blocks do not advance after the restart"

wait_until 15 'test "$(grep -c "MIDI input connected: performer:keys" "$log")" -ge 2' ||
  fail "the performer's port is not followed again"
notes_in=$(status_field notes_in)
echo "play 4 120" >&7
peer_says done
ask_status
[ "$(status_field notes_in)" -ge $((notes_in + 4)) ] || fail "MIDI in not heard after the restart ($notes_in -> $(status_field notes_in))"
wait_until 15 'test "$(notes_heard "$tmp/heard2")" -ge 3' || fail "no MIDI out notes after the restart"

# Quiet (mute: no new notes; panic: what is sounding or due ends now), then
# count: every note-on heard has its note-off. Quiet = nothing heard for 1 s.
oscsend 127.0.0.1 "$osc_port" /nextbeat/mute i 1
oscsend 127.0.0.1 "$osc_port" /nextbeat/panic i 1
size=-1 same=0
for _ in $(seq 100); do
  now=$(stat -c %s "$tmp/heard2")
  if [ "$now" = "$size" ]; then same=$((same + 1)); else same=0; fi
  [ $same -ge 4 ] && break
  size=$now
  sleep 0.25
done
/usr/bin/python3 - "$tmp/heard2" <<'PY' || fail "what the recorder heard after the restart"
import sys
lines = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
first_cc = next((i for i, m in enumerate(lines) if 0xB0 <= m[1] < 0xC0 and m[2] == 123), None)
first_on = next((i for i, m in enumerate(lines) if 0x90 <= m[1] < 0xA0 and m[3] > 0), None)
if first_on is None:
    sys.exit("no note-on heard")
if first_cc is None or first_cc > first_on:
    sys.exit(f"no all-notes-off before the first note (CC 123 at {first_cc}, first note-on at {first_on})")
on, ons = {}, 0
for m in lines:
    if len(m) < 4:
        continue
    kind, key = m[1] & 0xF0, (m[1] & 0x0F, m[2])
    if kind == 0x90 and m[3] > 0:
        ons += 1
        on[key] = on.get(key, 0) + 1
    elif kind == 0x80 or (kind == 0x90 and m[3] == 0):
        if on.get(key):
            on[key] -= 1
stuck = {k: v for k, v in on.items() if v}
if stuck:
    for i, m in enumerate(lines):
        if len(m) >= 4 and (m[1] & 0x0F, m[2]) in stuck or 0xB0 <= m[1] < 0xC0 and m[2] == 123:
            print(i, (m[0] - lines[0][0]) // 1000000, "ms", m[1:], file=sys.stderr)
    sys.exit(f"stuck notes (channel, pitch): {stuck} among {len(lines)} messages")
print(f"after the restart: {ons} note-ons, each with its note-off; all-notes-off first")
PY
stop_daemon
echo "JACK killed -> back: nextbeat reconnected ${back_ms} ms after jackd answered again" \
  "($(((started_at - killed_at) / 1000000)) ms down)"
echo "jack restart: ok"
