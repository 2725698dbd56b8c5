#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan, no LibTorch) and runs each for SECONDS
# (default 60) from a seed corpus: the bundled config and models, tests/data, and ../shared/data when it is
# there. Corpora, crashes and binaries stay outside the sources, in $NEXTBEAT_FUZZ_DIR (default build-fuzz/).
# Exits 1 when a target crashes, times out or runs out of memory (the reproducer is in crashes/), 77 (skipped)
# when clang or libFuzzer is missing (Debian: clang, libclang-rt-14-dev; scripts/setup.sh installs them).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   targets: osc config model midi pianoroll abc
#        NEXTBEAT_FUZZ_NICE=19 lowers the fuzzers' priority; NEXTBEAT_FUZZ_BUILD_ONLY=1 only builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
out=${NEXTBEAT_FUZZ_DIR:-$root/build-fuzz}
shared=${NEXTBEAT_SHARED_DATA:-$root/../shared/data}
all_targets=(osc config model midi pianoroll abc)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

cxx=${NEXTBEAT_FUZZ_CXX:-}
if [ -z "$cxx" ]; then
  for c in clang++ clang++-14 clang++-15 clang++-16; do command -v "$c" >/dev/null && { cxx=$c; break; }; done
fi
[ -n "$cxx" ] || { echo "fuzz: skipped: no clang++ (install the Debian packages clang and libclang-rt-14-dev)"; exit 77; }
mkdir -p "$out/obj" "$out/bin" "$out/corpus" "$out/crashes"
probe="$out/obj/probe"
if ! printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' |
    "$cxx" -x c++ -fsanitize=fuzzer - -o "$probe" 2>/dev/null; then
  echo "fuzz: skipped: $cxx cannot link libFuzzer (install libclang-rt-14-dev, or the libclang-rt-dev of your clang)"
  exit 77
fi

# --- Build: the parsers' sources into one archive, so each target links only what it uses ------------------
launcher=()
command -v ccache >/dev/null && launcher=(ccache)
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
       -fno-sanitize-recover=undefined -I"$root" $(pkg-config --cflags tomlplusplus liblo)
       -DNEXTBEAT_DEFAULT_CONFIG_SOURCE="\"$root/config/nextbeat.toml\"")
sources=(
  config/Config.cpp config/Controls.cpp config/ConfigLoader.cpp config/ConfigWriter.cpp config/Schema.cpp
  io/osc/OscServer.cpp io/osc/OscSender.cpp
  engine/music/MidiFile.cpp engine/music/Score.cpp engine/music/PianoRollData.cpp engine/music/AbcImport.cpp
  engine/music/MusicTheory.cpp
  engine/codec/Codec.cpp engine/codec/EventCodec.cpp engine/codec/EventLiveStream.cpp engine/codec/Grid.cpp
  engine/codec/PianoRollCodec.cpp engine/codec/PianoRollLiveStream.cpp
  engine/model/ModelFile.cpp engine/model/ModelSpec.cpp engine/model/Sampler.cpp
  tests/fuzz/NoModelStubs.cpp  # the two LstmModel members the codecs name, without LibTorch
  engine/util/AtomicFile.cpp engine/util/InputFile.cpp engine/util/JsonLimits.cpp engine/util/Subprocess.cpp
  engine/util/TempDirectory.cpp
)
echo "fuzz: building ${#sources[@]} sources and ${#targets[@]} targets with $cxx into $out"
objects=()
for s in "${sources[@]}"; do
  o="$out/obj/${s//\//_}.o"
  # A dependency file per object: rebuild when the source or any header it includes changed.
  if [ ! -f "$o" ] || [ "$root/$s" -nt "$o" ] || { [ -f "$o.d" ] && [ -n "$(find $(sed -e 's/^[^:]*://' -e 's/\\$//' "$o.d") -newer "$o" 2>/dev/null | head -1)" ]; }; then
    "${launcher[@]}" "$cxx" "${flags[@]}" -MMD -MF "$o.d" -c "$root/$s" -o "$o"
  fi
  objects+=("$o")
done
rm -f "$out/obj/libparsers.a"
ar rcs "$out/obj/libparsers.a" "${objects[@]}"
libs=($(pkg-config --libs tomlplusplus liblo) -lz -lpthread)
for t in "${targets[@]}"; do
  case $t in
    osc) src=OscDecodeFuzz.cpp ;; config) src=ConfigFuzz.cpp ;; model) src=ModelFileFuzz.cpp ;;
    midi) src=MidiFileFuzz.cpp ;; pianoroll) src=PianoRollFuzz.cpp ;; abc) src=AbcImportFuzz.cpp ;;
    *) echo "fuzz: unknown target '$t' (targets: ${all_targets[*]})" >&2; exit 2 ;;
  esac
  "${launcher[@]}" "$cxx" "${flags[@]}" -c "$root/tests/fuzz/$src" -o "$out/obj/fuzz-$t.o"
  "$cxx" -fsanitize=fuzzer,address,undefined "$out/obj/fuzz-$t.o" "$out/obj/libparsers.a" "${libs[@]}" -o "$out/bin/$t"
done
[ "${NEXTBEAT_FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# --- Seeds -------------------------------------------------------------------------------------------------
rm -rf "$out/seeds"
if [ -d "$shared" ]; then
  python3 "$root/tests/fuzz/make_seeds.py" "$root" "$out/seeds" "$shared"
else
  echo "fuzz: no shared data at $shared: seeds from the repository only"
  python3 "$root/tests/fuzz/make_seeds.py" "$root" "$out/seeds"
fi

# --- Run ---------------------------------------------------------------------------------------------------
# Inputs are capped per target (-max_len) and memory per process (-rss_limit_mb, ASan's shadow included);
# one input may take at most 10 s (-timeout). A crash, leak, timeout or out-of-memory stops the target and
# leaves its input in crashes/.
failed=()
for t in "${targets[@]}"; do
  case $t in
    osc) max_len=4096 ;; config) max_len=16384 ;; model) max_len=262144 ;;
    midi) max_len=65536 ;; pianoroll) max_len=65536 ;; abc) max_len=32768 ;;
  esac
  mkdir -p "$out/corpus/$t" "$out/seeds/$t"
  log="$out/$t.log"
  status=0
  nice -n "${NEXTBEAT_FUZZ_NICE:-0}" "$out/bin/$t" "$out/corpus/$t" "$out/seeds/$t" -max_total_time="$seconds" \
    -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$out/crashes/$t-" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  files=$(find "$out/corpus/$t" -type f | wc -l)
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $t: FAILED (exit $status) after ${runs:-?} runs; see $log and $out/crashes/"
    grep -m3 -E "ERROR|SUMMARY|runtime error" "$log" || true
    failed+=("$t")
  else
    echo "fuzz: $t: ${seconds} s, ${runs:-?} runs, corpus $files files ($(du -sk "$out/corpus/$t" | cut -f1) KiB), 0 crashes"
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failed: ${failed[*]}"; exit 1; }
