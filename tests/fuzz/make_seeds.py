"""Writes small seed inputs for the fuzz targets of tests/fuzz into SEEDS/<target>/ (scripts/fuzz.sh runs it).
Usage: make_seeds.py ROOT SEEDS [SHARED_DATA]
ROOT is the repository; SHARED_DATA (../shared/data) adds MIDI, ABC and piano-roll seeds when it is there.
Big inputs are cut down: the fuzzers run with a small -max_len, and a seed is only a starting shape."""
import json
import os
import struct
import sys
import tarfile
import zlib

root, seeds = sys.argv[1], sys.argv[2]
shared = sys.argv[3] if len(sys.argv) > 3 and os.path.isdir(sys.argv[3]) else None


def put(target, name, data):
    d = os.path.join(seeds, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- OSC: the messages of DESIGN.md's namespace, and bundles of them --------------------------------------
def pad(data):
    return data + b"\0" * (4 - len(data) % 4)


def osc(address, *args):
    tags, payload = ",", b""
    for a in args:
        if isinstance(a, str):
            tags, payload = tags + "s", payload + pad(a.encode())
        elif isinstance(a, float):
            tags, payload = tags + "f", payload + struct.pack(">f", a)
        else:
            tags, payload = tags + "i", payload + struct.pack(">i", a)
    return pad(address.encode()) + pad(tags.encode()) + payload


def bundle(*elements):
    out = pad(b"#bundle") + struct.pack(">Q", 1)
    for e in elements:
        out += struct.pack(">i", len(e)) + e
    return out


messages = [osc("/nextbeat/note", 60, 100), osc("/nextbeat/note", 60, 0), osc("/nextbeat/note", 1, 64, 90),
            osc("/nextbeat/temperature", 0.8), osc("/nextbeat/tempo", 120.0), osc("/nextbeat/mode", "follow"),
            osc("/nextbeat/model", "default:events"), osc("/nextbeat/status"), osc("/nextbeat/save"),
            osc("/nextbeat/learn", "temperature"), osc("/nextbeat/panic"), osc("/other", 1)]
for i, m in enumerate(messages):
    put("osc", "msg%02d" % i, m)
put("osc", "bundle", bundle(*messages[:4]))
put("osc", "nested", bundle(bundle(messages[0]), messages[3]))

# --- Config TOML: the bundled config and the test configs, good and bad -----------------------------------
for path in [os.path.join(root, "config", "nextbeat.toml")]:
    put("config", "nextbeat.toml", open(path, "rb").read())
for kind in ("good", "bad"):
    d = os.path.join(root, "tests", "data", "config", kind)
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        put("config", kind + "-" + name, open(os.path.join(d, name), "rb").read())

# --- Model files: the bundled models' headers, with every tensor cut to one element --------------------
def model_file(header, tensors):
    table, data = [], b""
    for name, dtype, shape, blob in tensors:
        table.append({"name": name, "dtype": dtype, "shape": shape, "offset": len(data), "bytes": len(blob)})
        data += blob
    header = dict(header, tensors=table)
    text = json.dumps(header, separators=(",", ":")).encode()
    out = b"NXTBEAT\0" + struct.pack("<IIQ", 1, 0, len(text)) + text + data
    return out + struct.pack("<I", zlib.crc32(out)) + b"END\0"


for name in ("events", "pianoroll"):
    path = os.path.join(root, "engine", "models", name + ".nbm")
    if not os.path.exists(path):
        continue
    with open(path, "rb") as f:
        head = f.read(24)
        (length,) = struct.unpack("<Q", head[16:24])
        header = json.loads(f.read(length))
    tensors = [(t["name"], t["dtype"], [1] * len(t["shape"]), b"\0\0\x80\x3f") for t in header.pop("tensors")]
    put("model", name + "-tiny.nbm", model_file(header, tensors))
    put("model", name + "-no-tensors.nbm", model_file(header, []))
    put("model", name + "-i64-u8.nbm", model_file({"format": "nextbeat-checkpoint", "spec": header.get("spec")},
                                                  [("step", "i64", [], b"\1" + b"\0" * 7), ("rng", "u8", [3], b"abc")]))

# --- MIDI: the test files, and from the shared data the small ones (cut to 64 KiB) ------------------------
def midi_files():
    for d in (os.path.join(root, "tests", "data"),):
        for dirpath, _, files in os.walk(d):
            for f in sorted(files):
                if f.endswith(".mid"):
                    yield f, open(os.path.join(dirpath, f), "rb").read()
    if shared:
        for sub in ("piano_performance", "multitrack_pop"):
            d = os.path.join(shared, sub)
            for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                if f.endswith(".mid"):
                    yield f, open(os.path.join(d, f), "rb").read()[: 64 << 10]


for name, data in midi_files():
    put("midi", name, data)
# A format 0 file with a tempo, a time signature and one note, and a format 2 one.
track = (b"\x00\xff\x51\x03\x07\xa1\x20\x00\xff\x58\x04\x04\x02\x18\x08\x00\x90\x3c\x64\x60\x80\x3c\x40"
         b"\x00\xff\x2f\x00")
put("midi", "tiny0.mid", b"MThd\0\0\0\6\0\0\0\1\0\x60MTrk" + struct.pack(">I", len(track)) + track)
put("midi", "tiny2.mid", b"MThd\0\0\0\6\0\2\0\2\0\x60" + (b"MTrk" + struct.pack(">I", len(track)) + track) * 2)

# --- ABC text (NUL) abc2midi log, and piano-roll JSON, from the shared data -------------------------------
log = b"\0Error in line-char 3-4 : Bar 1 has 5 units instead of 4\nwriting MIDI file tunes1.mid\n"
put("abc", "two-tunes.abc", b"X:1\nT:a\nK:C\nCDEF|\n\nX:2\nT:b\nK:G\nGABc|\n" + log)
put("pianoroll", "small.json", b"\0" + open(os.path.join(root, "tests", "data", "jsb-quarter-small.json"), "rb").read()[: 16 << 10])
put("pianoroll", "satb.json", b"\x08" + json.dumps({"train": [[[60, 55, 52, -1], [62, -1, 53, 43]]]}).encode())
if shared:
    tgz = os.path.join(shared, "nottingham", "nottingham-jukedeck-trainvalid.tar.gz")
    if os.path.exists(tgz):
        with tarfile.open(tgz) as t:
            n = 0
            for m in t:
                if m.name.endswith(".abc") and n < 40:
                    put("abc", os.path.basename(m.name), t.extractfile(m).read()[: 16 << 10] + log)
                    n += 1
                elif m.name.endswith(".mid") and "/midi/" in m.name and n < 80:
                    put("midi", os.path.basename(m.name), t.extractfile(m).read()[: 64 << 10])
                    n += 1
    for dirpath, _, files in os.walk(shared):
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            with open(os.path.join(dirpath, f)) as fh:
                data = json.load(fh)
            small = {split: [seq[:32] for seq in seqs[:2]] for split, seqs in data.items()}
            mode = 8 if "separated" in f.lower() else (1 if "16th" in f else 0)
            put("pianoroll", f, bytes([mode]) + json.dumps(small).encode())
