#!/usr/bin/env bash
# Issue 12, item 1: one /nextbeat/model request naming a model file whose
# header nests 100,000 arrays deep (valid CRC) used to crash `nextbeat run`
# (stack overflow copying the header). Now it, a spec that asks for 4096-wide
# layers from a file of a few KB, and a FIFO are each refused with an error
# naming the file, and the daemon plays on with its model.
nextbeat=$1
root=$2
source "$(dirname "$0")/daemon_lib.sh"
start_replies
mkdir -p "$tmp/models"
/usr/bin/python3 - "$root/engine/models/pianoroll.nbm" "$tmp/models" <<'PY' || fail "could not build the hostile files"
import json, struct, sys, zlib
src, out = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
hlen = struct.unpack_from("<Q", data, 16)[0]
header = json.loads(data[24:24 + hlen])
tensors = data[24 + hlen:-8]
def container(text):
    body = data[:16] + struct.pack("<Q", len(text)) + text + tensors
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF) + b"END\0"
text = json.dumps(header).encode()
deep = b'{"deep":' + b"[" * 100000 + b"]" * 100000 + b"," + text[1:]
open(out + "/deep.nbm", "wb").write(container(deep))
header["spec"]["hidden"] = header["spec"]["embed"] = 4096
open(out + "/huge.nbm", "wb").write(container(json.dumps(header).encode()))
PY
mkfifo "$tmp/models/fifo.nbm"
printf '[model]\npath = "default:events"\ndirs = ["%s"]\n[osc]\nport = %d\nreply_port = %d\n' \
  "$tmp/models" $osc_port $reply_port >"$tmp/cfg.toml"
start_daemon --config "$tmp/cfg.toml"
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
for name in deep huge fifo; do
  /usr/bin/python3 "$(dirname "$0")/osc_bundle.py" $osc_port 1 /nextbeat/model "s:$tmp/models/$name.nbm" ||
    fail "could not send"
  expect_reply "/nextbeat/error.*$name.nbm"
  kill -0 "$pid" 2>/dev/null || fail "the daemon died on $name.nbm"
done
grep -q "$tmp/models/deep.nbm.*nested deeper than 64" "$tmp/replies" || fail "deep: the error does not say why"
grep -q "$tmp/models/huge.nbm.*spec: its sizes need at least" "$tmp/replies" || fail "huge: the error does not say why"
grep -q "$tmp/models/fifo.nbm.*not a regular file" "$tmp/replies" || fail "fifo: the error does not say why"
rss_after=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
[ $((rss_after - rss_before)) -lt 100000 ] || fail "RSS grew from $rss_before to $rss_after kB"
grep -q "model swapped" "$log" && fail "a hostile model was swapped in"
# Still alive and answering, on its own model.
oscsend 127.0.0.1 $osc_port /nextbeat/status || fail "could not send /nextbeat/status"
expect_reply "/nextbeat/status.*default:events"
stop_daemon
echo "hostile models: deep header, huge spec and FIFO refused by name; the daemon played on (RSS $rss_before -> $rss_after kB)"
