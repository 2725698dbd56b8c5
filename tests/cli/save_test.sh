#!/usr/bin/env bash
# /nextbeat/save end to end (issue 12, item 3): the daemon writes the learned
# [cc] bindings through a symlinked config whose cc table is dotted keys at
# the root (a line editor appended a second [cc] there, which then refused to
# load); the file stays a symlink and loads. A config that vanished is not
# recreated with [cc] alone: the save is refused with an OSC error.
nextbeat=$1
root=$2
source "$(dirname "$0")/daemon_lib.sh"
start_replies
mkdir -p "$tmp/etc" "$tmp/state"
printf '# my rig\ncc.temperature = 30\n[osc]\nport = %d\nreply_port = %d\n' $osc_port $reply_port >"$tmp/state/real.toml"
ln -s "$tmp/state/real.toml" "$tmp/etc/nextbeat.toml"
start_daemon --config "$tmp/etc/nextbeat.toml"
oscsend 127.0.0.1 $osc_port /nextbeat/save || fail "could not send"
expect_reply "/nextbeat/save s \"$tmp/etc/nextbeat.toml\""
[ -L "$tmp/etc/nextbeat.toml" ] || fail "the symlink was replaced by a file"
"$nextbeat" check-config "$tmp/etc/nextbeat.toml" >"$tmp/effective" 2>"$tmp/err" || fail "the saved config does not load: $(cat "$tmp/err")"
grep -qx "temperature = 30" "$tmp/effective" || fail "the binding was lost: $(cat "$tmp/state/real.toml")"
grep -q "^# my rig" "$tmp/state/real.toml" || fail "the comment was lost"
[ "$(grep -c '^\[cc\]' "$tmp/state/real.toml")" -eq 1 ] || fail "not exactly one [cc]: $(cat "$tmp/state/real.toml")"

rm "$tmp/state/real.toml"
oscsend 127.0.0.1 $osc_port /nextbeat/save || fail "could not send"
expect_reply "/nextbeat/error.*config file is gone"
[ -e "$tmp/state/real.toml" ] && fail "a vanished config was recreated: $(cat "$tmp/state/real.toml")"
stop_daemon
echo "save: through a symlink, dotted cc keys rewritten into one [cc] that loads; a vanished file refused"
