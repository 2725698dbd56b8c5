#!/usr/bin/env bash
# The Debian package: built with cpack from this build directory, its contents
# and control fields checked, installed with dpkg, run, and purged.
# Usage: package_test.sh BUILD_DIR
set -euo pipefail
build=$1
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: installing the .deb needs root (dpkg -i); run the tests as root, as scripts/test.sh does in CI"
  exit 77
fi
if dpkg-query -W -f='${Status}' nextbeat 2>/dev/null | grep -q "install ok installed"; then
  echo "SKIP: a nextbeat package is installed on this machine already; this test does not replace it"
  exit 77
fi
work=$(mktemp -d)
trap 'dpkg --purge nextbeat >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/*.deb)
fail() { echo "FAIL: $*"; exit 1; }

contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/nextbeat ./usr/share/nextbeat/models/events.nbm ./usr/share/nextbeat/models/pianoroll.nbm \
            ./etc/nextbeat/nextbeat.toml ./lib/systemd/system/nextbeat.service ./usr/share/man/man1/nextbeat.1 \
            ./usr/share/doc/nextbeat/copyright; do
  grep -q " $path\$" <<<"$contents" || fail "$path is not in the package"
done
grep -q "/usr/etc" <<<"$contents" && fail "a file under /usr/etc (the config belongs in /etc)"
[ "$(dpkg-deb -f "$deb" Package)" = nextbeat ] || fail "Package field"
dpkg-deb -f "$deb" Version | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+' || fail "Version field"
dpkg-deb -f "$deb" Depends | grep -q libc6 || fail "Depends lacks the shared-library dependencies (shlibdeps)"
dpkg-deb -f "$deb" Section | grep -q sound || fail "Section field"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/nextbeat/nextbeat.toml || fail "the config is not a conffile"
dpkg-deb -I "$deb" postinst >/dev/null || fail "no postinst"

dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
/usr/bin/nextbeat --version | grep -q "^nextbeat [0-9]" || fail "--version"
/usr/bin/nextbeat check-config /etc/nextbeat/nextbeat.toml >/dev/null || fail "check-config of the installed config"
man -l /usr/share/man/man1/nextbeat.1 2>/dev/null | grep -q "check-config" || fail "the man page does not list the subcommands"
systemd-analyze verify /lib/systemd/system/nextbeat.service || fail "systemd-analyze verify"
dpkg --purge nextbeat >/dev/null
[ ! -e /usr/bin/nextbeat ] || fail "purge left /usr/bin/nextbeat"
[ ! -e /etc/nextbeat/nextbeat.toml ] || fail "purge left the conffile"
echo "package: $(basename "$deb") built, installed, run and purged"
