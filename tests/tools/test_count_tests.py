#!/usr/bin/env python3
"""scripts/count-tests.py on a synthetic meson testlog.json: cmocka passes,
failures and skips, a crashed binary, a meson-level SKIP (exit 77), and a
plain test. Usage: test_count_tests.py PATH/TO/count-tests.py"""
import json
import os
import subprocess
import sys
import tempfile

CMOCKA_SKIP = """[==========] Running 3 test(s).
[  PASSED  ] 2 test(s).
[  SKIPPED ] 1 test(s), listed below:
[  SKIPPED ] test_read_only_permissions

 1 SKIPPED TEST(S)
"""
CMOCKA_FAIL = """[  PASSED  ] 4 test(s).
[  FAILED  ] 1 test(s), listed below:
[  FAILED  ] test_x

 1 FAILED TEST(S)
"""
CMOCKA_CRASH = "[ RUN      ] test_y\nSegmentation fault\n"
CMOCKA_LEAK = "[  PASSED  ] 3 test(s).\n[  LEAK    ] 1 live allocations\n"

ROWS = [
    ("OK", CMOCKA_SKIP),      # 2 passed, 1 skipped (not 3 passed)
    ("FAIL", CMOCKA_FAIL),    # 4 passed, 1 failed
    ("FAIL", CMOCKA_CRASH),   # 1 failed
    ("FAIL", CMOCKA_LEAK),    # 3 passed, 1 failed (the leak)
    ("SKIP", ""),             # a whole test skipped by meson: 1 skipped
    ("OK", "lint ok\n"),      # 1 passed
    ("TIMEOUT", ""),          # 1 failed
]
WANT = "10 4 2"


def main():
    script = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "testlog.json")
        with open(path, "w") as f:
            for i, (result, out) in enumerate(ROWS):
                f.write(json.dumps({"name": "t%d" % i, "result": result,
                                    "stdout": out}) + "\n")
        got = subprocess.run([sys.executable, script, path], check=True,
                             capture_output=True, text=True).stdout.strip()
    if got != WANT:
        print("count-tests: got %r, want %r" % (got, WANT))
        return 1
    print("count-tests: %s (passed failed skipped)" % got)
    return 0


if __name__ == "__main__":
    sys.exit(main())
