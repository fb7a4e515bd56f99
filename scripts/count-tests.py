#!/usr/bin/env python3
"""Counts test cases in meson testlog.json files.

A cmocka binary counts as the cases it reports: "[  PASSED  ] N test(s).",
"[  FAILED  ] N test(s)" and "[  SKIPPED ] N test(s)" (cmocka's skip(); a
skipped case is not a passed one). A binary that failed without a cmocka
failure line (crash, leak, sanitizer report, timeout) adds one failure.
Any other test counts as one case: passed, failed, or skipped when meson
reports SKIP (exit code 77). Prints "passed failed skipped".
"""
import json
import re
import sys

PASSED = re.compile(r"\[  PASSED  \] (\d+) test")
FAILED = re.compile(r"\[  FAILED  \] (\d+) test")
SKIPPED = re.compile(r"\[  SKIPPED \] (\d+) test")


def count(paths):
    passed = failed = skipped = 0
    for path in paths:
        with open(path) as f:
            for line in f:
                t = json.loads(line)
                out = (t.get("stdout") or "") + (t.get("stderr") or "")
                ok = t["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
                p = [int(m) for m in PASSED.findall(out)]
                q = [int(m) for m in FAILED.findall(out)]
                s = [int(m) for m in SKIPPED.findall(out)]
                if p or q or s:
                    passed += sum(p)
                    failed += sum(q)
                    skipped += sum(s)
                    if not ok and not q:
                        failed += 1
                elif t["result"] == "SKIP":
                    skipped += 1
                elif ok:
                    passed += 1
                else:
                    failed += 1
    return passed, failed, skipped


if __name__ == "__main__":
    print(*count(sys.argv[1:]))
