#!/usr/bin/env bash
# skip_unless.sh REQUIREMENT... -- CMD [ARGS...]
#
# Runs CMD and exits with its status when every requirement holds; otherwise
# says which does not and exits 77, which the tests' SKIP_RETURN_CODE turns
# into "skipped" rather than "failed" (a machine without jackd2 or
# python3-rtmidi cannot run them; see scripts/ for the packages).
#
#   tool:NAME      NAME is a command on PATH
#   python:MODULE  /usr/bin/python3 can import MODULE (Debian's python3-*
#                  packages live there, not in a pyenv python3)
#   file:PATH      PATH exists
#   no-file:PATH   PATH does not exist
#   shared:PATH    PATH exists under the shared music data: $NEXTBEAT_SHARED_DATA
#                  (../shared/data, which a clone does not have)
set -euo pipefail

missing=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  case "$1" in
    tool:*) command -v "${1#tool:}" >/dev/null || missing+=("command ${1#tool:}") ;;
    python:*) /usr/bin/python3 -c "import ${1#python:}" >/dev/null 2>&1 ||
      missing+=("/usr/bin/python3 module ${1#python:}") ;;
    file:*) [[ -e "${1#file:}" ]] || missing+=("${1#file:}") ;;
    no-file:*) [[ ! -e "${1#no-file:}" ]] || missing+=("absence of ${1#no-file:}") ;;
    shared:*)
      [[ -e "${NEXTBEAT_SHARED_DATA:-}/${1#shared:}" ]] ||
        missing+=("../shared/data/${1#shared:} (the shared music data; not at ${NEXTBEAT_SHARED_DATA:-}/${1#shared:})")
      ;;
    *)
      echo "skip_unless.sh: unknown requirement '$1'" >&2
      exit 2
      ;;
  esac
  shift
done
[[ $# -ge 2 && "$1" == "--" ]] || {
  echo "usage: skip_unless.sh REQUIREMENT... -- CMD [ARGS...]" >&2
  exit 2
}
shift
if ((${#missing[@]} > 0)); then
  printf 'SKIP: needs %s\n' "${missing[@]}"
  exit 77
fi
exec "$@"
