#!/usr/bin/env python3
"""Manual check (not run by CI): a writer killed while it creates its store
must leave either no store or a whole one.

Usage: tests/store/start_kill.py BUILD_DIR [N] [BASE_DIR]

N times (default 300): start the store_crash test's child (the test binary
with --crash-child, which opens a fresh home and commits in a loop) on a
fresh home under BASE_DIR (default /dev/shm, where LMDB sizes the file to
the map first), SIGKILL it 0-4 ms after exec, then run `blockv2 store
check` (read-only) on the home and start the child again until its first
acknowledged commit. Prints how often each outcome came; anything but
"ro ok/absent" and "rw ok" is a failure (before bm__env_create_whole, 300
homes gave "Bad file descriptor" and MDB_INVALID read-only opens, and
writers that could not reopen their home).
"""
import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def main():
    build = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    base = sys.argv[3] if len(sys.argv) > 3 else "/dev/shm"
    exe = os.path.join(build, "tests", "test_store_crash")
    cli = os.path.join(build, "cmd", "blockv2")
    out = collections.Counter()
    bad = 0
    for _ in range(n):
        home = tempfile.mkdtemp(prefix="bm-startkill-", dir=base)
        try:
            p = subprocess.Popen([exe, "--crash-child", home],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0, 0.004))
            p.send_signal(signal.SIGKILL)
            p.wait()
            r = subprocess.run([cli, "store", "check", "--home", home],
                               capture_output=True, text=True)
            msg = (r.stdout + r.stderr).strip()
            if r.returncode == 0 or "No such file" in msg or \
                    "no store" in msg:
                out["ro ok/absent"] += 1
            else:
                out["ro FAILED: " + msg.splitlines()[-1]] += 1
                bad += 1
            p = subprocess.Popen([exe, "--crash-child", home],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            line = p.stdout.readline()
            p.send_signal(signal.SIGKILL)
            p.wait()
            if line:
                out["rw ok"] += 1
            else:
                out["rw FAILED: " + p.stderr.read().decode().strip()] += 1
                bad += 1
        finally:
            shutil.rmtree(home, ignore_errors=True)
    for k, v in sorted(out.items()):
        print(v, k)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
