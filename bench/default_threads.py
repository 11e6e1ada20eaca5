"""Default settings against one thread, scratchgen only: does a user who changes nothing
get at least the one-thread speed? Every case of bench/ops.py and the GPT recipe of
bench/gpt.py runs in fresh worker processes, alternating the user's environment (no
thread variables: the library's own choice) and one thread forced (OMP/OpenBLAS/MKL = 1)
round after round, so a change in the machine's load hits both sides alike; medians of
the per-process medians.

    python bench/default_threads.py                       # 3 rounds
    python bench/default_threads.py --rounds 5 --repeats 10
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import THREAD_VARS, worker_env  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = {'ops.py': None, 'gpt.py': ['recipe']}       # None: every case of the script


def cases_of(script):
    module = __import__(script[:-3])
    return list(module.CASES)


def time_case(script, case, env, repeats):
    out = subprocess.run([sys.executable, os.path.join(HERE, script), '--worker', 'sg', '--cases',
                          case, '--repeats', str(repeats)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{script} {case}: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--repeats', type=int, default=10)
    args = ap.parse_args()
    default = worker_env(None)
    for var in THREAD_VARS:                 # the user's environment: nothing set
        default.pop(var, None)
    one = worker_env(1)
    print(f"scratchgen, median over {args.rounds} alternating rounds of per-process medians "
          f"({args.repeats} repeats); load {open('/proc/loadavg').read().split()[0]} at start")
    print(f"{'script':<8} {'case':<8} {'default':>10} {'1 thread':>10} {'default / 1':>12}")
    for script, cases in SCRIPTS.items():
        for case in cases or cases_of(script):
            t_default, t_one = [], []
            for _ in range(args.rounds):
                t_default.append(time_case(script, case, default, args.repeats))
                t_one.append(time_case(script, case, one, args.repeats))
            d, o = statistics.median(t_default), statistics.median(t_one)
            print(f"{script:<8} {case:<8} {d * 1e3:>7.2f} ms {o * 1e3:>7.2f} ms {d / o:>12.2f}", flush=True)
    print(f"load {open('/proc/loadavg').read().split()[0]} at the end")


if __name__ == '__main__':
    main()
