#!/usr/bin/env python3
"""Counts test cases in meson testlog.json files.

A cmocka binary counts as the number of cases it reports ("[  PASSED  ] N
test(s)." / "[  FAILED  ] N test(s)"); a binary that failed without a
cmocka failure line (crash, leak, sanitizer report, timeout) adds one
failure. Any other test counts as one case. Prints "passed failed".
"""
import json
import re
import sys

PASSED = re.compile(r"\[  PASSED  \] (\d+) test")
FAILED = re.compile(r"\[  FAILED  \] (\d+) test")

passed = failed = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            ok = t["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
            p = [int(m) for m in PASSED.findall(out)]
            q = [int(m) for m in FAILED.findall(out)]
            if p or q:
                passed += sum(p)
                failed += sum(q)
                if not ok and not q:
                    failed += 1
            elif ok:
                passed += 1
            else:
                failed += 1
print(passed, failed)
