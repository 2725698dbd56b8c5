#!/usr/bin/env bash
# Checks on an amd64 machine that nextbeat builds and computes the same on
# arm64 (Raspberry Pi 4 and 5, Jetson), with Debian's cross compiler and qemu:
#  1. every .cpp of the project passes aarch64-linux-gnu-g++ -fsyntax-only,
#     with the flags, defines and include directories CMake gives it
#     (BUILD_DIR/compile_commands.json); the host's library headers stand in
#     for the target's (-idirafter, after the cross libc and libstdc++);
#  2. the packed live step (tests/engine/PackedStepCheck.cpp, no LibTorch),
#     built for the host and statically for aarch64, runs natively and under
#     qemu as a Cortex-A72 (Pi 4) and a Cortex-A76 (Pi 5); each run is checked
#     against a double-precision reference, and the aarch64 results against
#     the host's.
# A file that passed step 1 is not compiled again while its preprocessed text
# and flags stay the same (stamps in BUILD_DIR/check-arm64): a cold run takes
# about 2 minutes on 2 cores, a warm one about 30 s.
# Usage: scripts/check-arm64.sh [BUILD_DIR]   (default: build/; a ctest test, label unit)
# Exit code: 0 passed, 1 failed, 77 skipped (cross tools not installed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-${NEXTBEAT_BUILD_DIR:-$root/build}}" && pwd)
cross="aarch64-linux-gnu-g++"
qemu="qemu-aarch64-static"
if ! command -v "$cross" >/dev/null || ! command -v "$qemu" >/dev/null; then
  echo "SKIP: check-arm64 needs g++-aarch64-linux-gnu and qemu-user-static (scripts/setup.sh installs them)"
  exit 77
fi
command -v python3 >/dev/null || { echo "check-arm64: needs python3" >&2; exit 1; }
work=$build/check-arm64
mkdir -p "$work/syntax-ok"
jobs=${NEXTBEAT_JOBS:-$(nproc)}
start=$SECONDS
status=0

# --- 1. aarch64 syntax sweep -------------------------------------------------------
python3 - "$root" "$build" "$work/syntax-ok" "$jobs" "$cross" <<'EOF' || status=1
import concurrent.futures, hashlib, json, os, shlex, subprocess, sys

root, build, stamps, jobs, cross = sys.argv[1:6]
listed = subprocess.run(["git", "-C", root, "ls-files", "-co", "--exclude-standard", "*.cpp"],
                        capture_output=True, text=True)
if listed.returncode == 0:
    files = [os.path.join(root, f) for f in listed.stdout.split()]
else:  # not a git checkout (a source tarball)
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) if not d.startswith(build)
             for f in fs if f.endswith(".cpp")]
files = sorted(f for f in files if not f.startswith(build + os.sep))

commands = {}
database = os.path.join(build, "compile_commands.json")
if os.path.exists(database):
    with open(database) as f:
        for e in json.load(f):
            args = e.get("arguments") or shlex.split(e["command"])
            commands[os.path.realpath(os.path.join(e["directory"], e["file"]))] = (args[1:], e["directory"])

# Host include directories come after the cross compiler's own (its libc and
# libstdc++ must win); the project's stay first. -Wno-psabi: GCC's note that
# an ABI changed in GCC 10 does not concern one build by one compiler.
host = ["-Wno-psabi", "-idirafter", "/usr/include/torch/csrc/api/include", "-idirafter", "/usr/include"]

def flags(path):
    entry = commands.get(os.path.realpath(path))
    if entry is None:  # not in the build (tests/fuzz): the project's defaults
        return ["-std=c++20", "-I" + root] + host, root
    args, directory = entry
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a in ("-o", "-MF", "-MT", "-MQ"):
            i += 2
            continue
        if a in ("-c", "-MD", "-MMD") or os.path.realpath(os.path.join(directory, a)) == os.path.realpath(path):
            i += 1
            continue
        if a in ("-isystem", "-I") and i + 1 < len(args) and args[i + 1].startswith("/usr/"):
            out += ["-idirafter", args[i + 1]]
            i += 2
            continue
        if a.startswith(("-isystem/usr/", "-I/usr/")):
            out += ["-idirafter", a[len("-isystem"):] if a.startswith("-isystem") else a[2:]]
            i += 1
            continue
        out.append(a)
        i += 1
    return out + host, directory

version = subprocess.run([cross, "--version"], capture_output=True, text=True).stdout

def check(path):
    args, directory = flags(path)
    pre = subprocess.run([cross] + args + ["-E", path], cwd=directory, capture_output=True)
    if pre.returncode != 0:
        return path, False, pre.stderr.decode(errors="replace"), False
    key = hashlib.sha256(version.encode() + "\0".join(args).encode() + pre.stdout).hexdigest()
    stamp = os.path.join(stamps, key)
    if os.path.exists(stamp):
        return path, True, "", True
    r = subprocess.run([cross] + args + ["-fsyntax-only", path], cwd=directory, capture_output=True)
    if r.returncode == 0:
        open(stamp, "w").close()
    return path, r.returncode == 0, r.stderr.decode(errors="replace"), False

failed = cached = 0
with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
    for path, ok, messages, hit in pool.map(check, files):
        cached += hit
        if not ok:
            failed += 1
            print(f"FAIL aarch64 -fsyntax-only {os.path.relpath(path, root)}")
        if messages:
            sys.stdout.write(messages)
print(f"aarch64 -fsyntax-only: {len(files) - failed} of {len(files)} .cpp files pass ({cached} unchanged since they passed)")
sys.exit(1 if failed else 0)
EOF

# --- 2. the packed step: host vs aarch64 under qemu -------------------------------
# The flags engine/CMakeLists.txt gives model/PackedLstm.cpp (keep them in step).
step_flags=(-std=c++20 -O3 -ffp-contract=fast -fno-trapping-math -Wno-psabi -I"$root")
sources=("$root/tests/engine/PackedStepCheck.cpp" "$root/engine/model/PackedLstm.cpp")
g++ "${step_flags[@]}" "${sources[@]}" -o "$work/packed-step-check" &
native_build=$!
"$cross" -static "${step_flags[@]}" "${sources[@]}" -o "$work/packed-step-check-arm64"
wait "$native_build"

echo "host ($(uname -m)):"
"$work/packed-step-check" "$work/host.txt" || status=1
for cpu in cortex-a72 cortex-a76; do
  echo "aarch64 $cpu under qemu:"
  "$qemu" -cpu "$cpu" "$work/packed-step-check-arm64" "$work/$cpu.txt" || status=1
  echo "aarch64 $cpu against host:"
  "$work/packed-step-check" --compare "$work/host.txt" "$work/$cpu.txt" || status=1
done
echo "check-arm64: $([ $status -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - start)) s"
exit $status
