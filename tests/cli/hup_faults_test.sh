#!/usr/bin/env bash
# SIGHUP with a bad config, then with a corrupt model, then with a good one:
# /nextbeat/status shows the old settings and model after each refused
# reload (and the log never says "reloaded" for them), the new ones after
# the good one. hup_faults_test.sh NEXTBEAT
nextbeat=$1
source "$(dirname "$0")/daemon_lib.sh"
start_replies

write_config() {  # write_config TEMPO MODEL
  printf '[osc]\nport = %d\nreply_port = %d\n[clock]\ntempo_bpm = %s\n[model]\npath = "%s"\n' \
    "$osc_port" "$reply_port" "$1" "$2" >"$tmp/cfg.toml"
}
hup_until() {  # hup_until PATTERN: SIGHUP, then the log has one more PATTERN line (10 s)
  local before
  before=$(grep -c -- "$1" "$log")
  kill -HUP "$pid"
  for _ in $(seq 100); do
    [ "$(grep -c -- "$1" "$log")" -gt "$before" ] && return 0
    sleep 0.1
  done
  fail "no '$1' after SIGHUP"
}
expect() {  # expect TEMPO MODEL WHEN
  ask_status
  local tempo model
  tempo=$(status_field tempo)
  model=$(status_field model)
  [ "${tempo%%.*}" = "$1" ] && [ "$model" = "$2" ] || fail "$3: status has tempo $tempo, model $model; expected $1, $2"
}

write_config 100 default:events
start_daemon --config "$tmp/cfg.toml"
expect 100 default:events "at start"

# A config that does not load.
printf '[osc]\nport = %d\nreply_port = %d\n[clock]\ntempo_bpm = "fast"\n' "$osc_port" "$reply_port" >"$tmp/cfg.toml"
hup_until "keeping the previous one"
expect 100 default:events "after a bad config"

# A valid config naming a corrupt model (a tempo change with it must not apply either).
head -c 4096 /dev/urandom >"$tmp/corrupt.nbm"
write_config 140 "$tmp/corrupt.nbm"
hup_until "keeping the previous one"
grep -q "model .*corrupt.nbm.*keeping the current model" "$log" || fail "the corrupt model is not named in the log"
grep -q "config reloaded" "$log" && fail "the log says 'config reloaded' for a refused config"
expect 100 default:events "after a corrupt model"
kill -0 "$pid" || fail "died on a corrupt model"

# A good one.
write_config 140 default:pianoroll
hup_until "config reloaded from"
expect 140 default:pianoroll "after a good config"
stop_daemon
echo "SIGHUP faults: ok"
