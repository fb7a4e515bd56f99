#!/usr/bin/env python3
"""How many of one process's threads were runnable (on a CPU or waiting
for one) over a recorded window, from the scheduler's trace points; the
share of the window with fewer runnable than CPUs is time a quiet
machine would have left a CPU idle (docs/PERFORMANCE.md "DA catch-up").

  mkfifo ctl
  CATCHUP_PERF_CTL=ctl perf record -a -e sched:sched_switch \\
      -e sched:sched_wakeup -e sched:sched_wakeup_new -D -1 \\
      --control fifo:ctl -o sched.data -- \\
      build-bench/bench/catchup_bench --blocks 10000 --runs 1
  perf script -i sched.data -F comm,pid,tid,cpu,time,event,trace \\
      | bench/sched_runnable.py PID NCPU

PID: the bench's process id (the first field after its name in the
perf script output); NCPU: the machine's CPUs.
"""
import collections
import re
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    pid, ncpu = int(sys.argv[1]), int(sys.argv[2])
    line_re = re.compile(r'^\s*(\S.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+'
                         r'([\d.]+):\s+(\S+):\s+(.*)$')
    sw_re = re.compile(r'prev_pid=(\d+) .*prev_state=(\S+) ==> '
                       r'.*next_pid=(\d+)')
    wk_re = re.compile(r' pid=(\d+)')
    evs, ours = [], set()
    for line in sys.stdin:
        m = line_re.match(line)
        if not m:
            continue
        _, tgid, tid, _, t, ev, rest = m.groups()
        evs.append((float(t), ev, rest))
        if int(tgid) == pid:
            ours.add(int(tid))
    runnable, share, last = set(), collections.Counter(), None
    for t, ev, rest in evs:
        if last is not None:
            share[min(len(runnable), 3)] += t - last
        last = t
        if ev.startswith('sched:sched_switch'):
            m = sw_re.search(rest)
            if not m:
                continue
            prev, state, nxt = int(m.group(1)), m.group(2), int(m.group(3))
            if prev in ours and not state.startswith('R'):
                runnable.discard(prev)
            if nxt in ours:
                runnable.add(nxt)
        elif ev.startswith('sched:sched_wakeup'):
            m = wk_re.search(rest)
            if m and int(m.group(1)) in ours:
                runnable.add(int(m.group(1)))
    total = sum(share.values())
    if total <= 0:
        sys.exit("no events of process %d" % pid)
    print("window %.3f s, %d threads" % (total, len(ours)))
    for k in sorted(share):
        print("runnable %d%s: %.1f %%" % (k, "+" if k == 3 else "",
                                         100 * share[k] / total))
    print("fewer runnable than %d CPUs: %.1f %% of the window" %
          (ncpu, 100 * sum(v for k, v in share.items() if k < ncpu) /
           total))


main()
