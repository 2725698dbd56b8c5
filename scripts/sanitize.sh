#!/usr/bin/env bash
# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer, in a build directory of their own
# (default build-asan/, NEXTBEAT_ASAN_BUILD_DIR). .ci/run runs it after scripts/test.sh.
# LibTorch, RtMidi and the other Debian libraries are not instrumented; what they do is let through only as
# tests/sanitizers/lsan.supp says (and why). Extra arguments go to ctest.
# Usage: scripts/sanitize.sh [ctest arguments]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${NEXTBEAT_ASAN_BUILD_DIR:-$root/build-asan}
# halt_on_error / -fno-sanitize-recover: the first finding fails the test. detect_leaks: LSan at exit, with
# the suppressions. The same options hold at build time, when catch_discover_tests runs each test program.
# alloc_dealloc_mismatch=0: tests/engine/PackedLstmTest.cpp and the live engine tests count allocations with
# a replacement operator new/delete over malloc/free; ASan then takes one block of Catch's test registry,
# freed at exit, for "operator new vs free" (every run, the same block). Nothing else is let through.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=0:alloc_dealloc_mismatch=0:${NEXTBEAT_ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
start=$(date +%s)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNEXTBEAT_BUILD_TESTS=ON \
  -DNEXTBEAT_SANITIZE=address,undefined "${launcher[@]}" >/dev/null
# The unit test programs only: not the daemon, not the JACK and audio tests.
# Not engine_model_tests: LibTorch's training paths are not ours to instrument, and the model file's
# parser runs under ASan + UBSan in `fuzz: brief` (model target); it kept CI under its 40 minutes.
targets=(config_tests engine_music_file_tests engine_codec_tests engine_plots_tests
         engine_packed_tests engine_live_tests engine_sampler_tests io_offline_renderer_tests io_osc_tests
         io_midi_message_tests)
cmake --build "$build" -j "${NEXTBEAT_JOBS:-2}" --target "${targets[@]}"
built=$(date +%s)
cd "$build"
status=0
# Not the two io tests of the JACK and audio programs, which are not built here; not the statistical
# sweeps of ControlResponseTest (thousands of rollouts each, minutes under ASan): the other live tests
# run the same engine paths.
ctest -L unit -R '^(config:|engine:|io: )' \
  -E '^io: (midi: no MIDI API|audio output: missing soundfont)$|^engine:(density scales|temperature: colder|top_k|key and scale: every|repetition_penalty|velocity_scale: velocities|pitch_min and pitch_max)' \
  -j "${NEXTBEAT_JOBS:-2}" --output-on-failure "$@" || status=$?
echo "sanitize: build $((built - start)) s, tests $(($(date +%s) - built)) s, ctest exit $status"
exit $status
