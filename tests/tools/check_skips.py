#!/usr/bin/env python3
"""check_skips.py JUNIT_XML: lists every test ctest skipped, with the line it
printed saying why, and fails (exit 1) if any skip is not an allowed one.

A skip counts as a pass in ctest's summary ("100% tests passed"); here it
does not, unless its reason is one a machine may lack by design:
  - the shared music data (../shared/data, NEXTBEAT_SHARED_DATA), which a
    clone of the repository does not have;
  - a GPU (CUDA);
  - (by design) ALSA, for the one test of a machine without a MIDI API.
More reasons may be allowed for one run with NEXTBEAT_ALLOWED_SKIPS, a
Python regular expression matched against the skip line.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

ALLOWED = [
    r"\.\./shared", r"shared music data", r"NEXTBEAT_SHARED_DATA",  # no ../shared/data
    r"\bGPU\b", r"\bCUDA\b",  # no GPU
    r"absence of /dev/snd/seq",  # the no-MIDI-API test runs only where ALSA is absent, by design
]


def reason_of(case):
    out = case.findtext("system-out") or ""
    for line in out.splitlines():
        if "SKIP" in line:
            return line.strip()
    skipped = case.find("skipped")
    message = skipped.get("message", "") if skipped is not None else ""
    return message or "(no reason printed)"


def main(argv):
    if len(argv) != 2:
        print("usage: check_skips.py JUNIT_XML", file=sys.stderr)
        return 2
    allowed = list(ALLOWED)
    if os.environ.get("NEXTBEAT_ALLOWED_SKIPS"):
        allowed.append(os.environ["NEXTBEAT_ALLOWED_SKIPS"])
    root = ET.parse(argv[1]).getroot()
    skips = []
    for case in root.iter("testcase"):
        if case.get("status") in ("skipped", "notrun") or case.find("skipped") is not None:
            reason = reason_of(case)
            ok = any(re.search(a, reason) for a in allowed)
            skips.append((ok, case.get("name", "?"), reason))
    if not skips:
        print("skips: none")
        return 0
    refused = [s for s in skips if not s[0]]
    print(f"skips: {len(skips)} ({len(refused)} not allowed)")
    for ok, name, reason in skips:
        print(f"  {'allowed    ' if ok else 'NOT ALLOWED'}  {name}: {reason}")
    if refused:
        print("a skip that is not allowed fails the run: install what it needs (scripts/setup.sh), "
              "or allow it for this run with NEXTBEAT_ALLOWED_SKIPS=REGEX", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
