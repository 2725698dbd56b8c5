#!/usr/bin/env bash
# Installs every Debian package that nextbeat's build, tests and daemon need.
# Idempotent: packages already present are left alone, so a second run is fast.
# Usage: scripts/setup.sh            (as root, or with sudo available)
set -euo pipefail

# Build: compiler, CMake and the libraries named in CMakeLists.txt.
build_pkgs=(
  build-essential cmake pkg-config git
  help2man                # the man page, made from --help at build time
  systemd                 # systemd-analyze: the unit's hardening check
  man-db                  # man -l: the package test reads the man page
  libtorch-dev            # LibTorch (CPU) for engine/
  librtmidi-dev           # MIDI in/out
  librtaudio-dev          # audio out
  libfluidsynth-dev       # synthesis
  liblo-dev               # OSC
  libjack-jackd2-dev      # JACK graph watch for MIDI hot-plug (io/midi/MidiInputs.cpp)
  libboost-dev            # Asio (header-only)
  libtomlplusplus-dev     # config files
  catch2                  # unit tests (v2)
  libreaderwriterqueue-dev  # lock-free SPSC queues between threads
  libcli11-dev            # command line
  libspdlog-dev           # leveled logging
  libsystemd-dev          # sd_notify / watchdog
  nlohmann-json3-dev      # piano-roll JSON data, model-file headers, metrics
  zlib1g-dev              # CRC-32 of model files
  ableton-link-dev        # [clock] source = "link" (header-only; brings libasio-dev)
)
# Run time: a fast BLAS for LibTorch (the reference BLAS makes a step ~8x
# slower), a General MIDI soundfont, and a JACK server for virtual ports.
run_pkgs=(
  libopenblas0-pthread
  fluid-soundfont-gm
  jackd2
)
# Tests and benchmarks: real OSC peers, Pure Data, ABC conversion, Python
# references for MIDI files and for the LSTM speed comparison.
test_pkgs=(
  liblo-tools
  puredata-core
  abcmidi
  python3-mido
  python3-rtmidi
  python3-torch
  python3-numpy           # pitch of the recorded audio in tests/live
  libxml2-utils           # xmllint: the SVG plots are checked as XML (tests/engine/SvgTest.cpp)
  stress-ng
  sox
  clang-format            # the format check in the test suite
  clang                   # scripts/fuzz.sh: the fuzz targets of tests/fuzz (libFuzzer) ...
  libclang-rt-14-dev      # ... whose runtime (libclang_rt.fuzzer, ASan, UBSan) is packaged apart
  g++-aarch64-linux-gnu   # scripts/check-arm64.sh: the arm64 build check (Pi, Jetson)
  qemu-user-static        # ... and the packed step run as a Cortex-A72 and A76
)

all=("${build_pkgs[@]}" "${run_pkgs[@]}" "${test_pkgs[@]}")
missing=()
for p in "${all[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#all[@]} packages already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# jackd2 asks whether to enable real-time scheduling; answer without a prompt.
echo "jackd2 jackd/tweak_rt_limits boolean false" | $sudo debconf-set-selections
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
