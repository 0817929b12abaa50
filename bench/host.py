#!/usr/bin/env python3
"""Host-backend figures, each a ratio against a baseline measured in the same run.

1. Per-step cost: a 1000-step workflow of `run: "true"` on the host backend vs a raw
   loop of 1000 `sh -c true` (target: ratio <= 2).
2. Peak RSS of `gantry run` while one step writes 1 GiB to stdout (target: <= 64 MiB).

Usage: bench/host.py [--gantry target/release/gantry] [--steps 1000] [--gib 1]
Build first: cargo build --release -p gantry-cli
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def run_measured(cmd, cwd, env):
    """Runs cmd, returns (seconds, peak RSS of the child in KiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(after, before)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantry", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "gantry"))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--gib", type=float, default=1.0)
    args = ap.parse_args()
    gantry = os.path.abspath(args.gantry)
    if not os.path.exists(gantry):
        sys.exit(f"{gantry} not found: cargo build --release -p gantry-cli")

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GANTRY_STATE_DIR=os.path.join(tmp, "state"), NO_COLOR="1")
        steps = "\n".join('      - run: "true"' for _ in range(args.steps))
        with open(os.path.join(tmp, "steps.yml"), "w") as f:
            f.write(f"jobs:\n  many:\n    runs-on: host\n    steps:\n{steps}\n")

        with open(os.path.join(tmp, "steps-sh.yml"), "w") as f:
            f.write(f"defaults:\n  run:\n    shell: sh\njobs:\n  many:\n    runs-on: host\n    steps:\n{steps}\n")

        # Warm-up (page cache, SQLite file creation), then the measured runs, best of 3.
        run_measured([gantry, "run", "--quiet", "steps.yml"], tmp, env)
        best = lambda cmd: min(run_measured(cmd, tmp, env)[0] for _ in range(3))
        raw = best(["sh", "-c", f"i=0; while [ $i -lt {args.steps} ]; do sh -c true; i=$((i+1)); done"])
        raw_bash = best(["sh", "-c", f"i=0; while [ $i -lt {args.steps} ]; do bash --noprofile --norc -c true; i=$((i+1)); done"])
        ours = best([gantry, "run", "--quiet", "steps.yml"])
        ours_sh = best([gantry, "run", "--quiet", "steps-sh.yml"])
        ms = lambda t: t / args.steps * 1000
        print(f"host steps, default shell (bash): {args.steps} steps, gantry {ours:.3f}s ({ms(ours):.2f} ms/step); "
              f"raw `sh -c true` loop {ms(raw):.2f} ms/step -> ratio {ours / raw:.2f} (target <= 2); "
              f"raw `bash -c true` loop {ms(raw_bash):.2f} ms/step -> ratio {ours / raw_bash:.2f}")
        print(f"host steps, shell: sh: gantry {ours_sh:.3f}s ({ms(ours_sh):.2f} ms/step) -> ratio to `sh -c true` {ours_sh / raw:.2f} (target <= 2)")

        size = int(args.gib * 1024 ** 3)
        with open(os.path.join(tmp, "flood.yml"), "w") as f:
            f.write("jobs:\n  flood:\n    runs-on: host\n    steps:\n"
                    f"      - shell: sh\n        run: yes 'gantry output line of moderate length for the flood bench' | head -c {size}\n")
        # RUSAGE_CHILDREN keeps the maximum over all children so far; measure in a fresh process.
        code = (
            "import resource,subprocess,sys,time;"
            "t=time.perf_counter();"
            "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
            "e=time.perf_counter()-t;"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, e, p.returncode)"
        )
        out = subprocess.run([sys.executable, "-c", code, gantry, "run", "flood.yml"], cwd=tmp, env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        rss_kib, secs, rc = int(out[0]), float(out[1]), int(out[2])
        if rc != 0:
            sys.exit(f"flood run failed with {rc}")
        print(f"flood: {args.gib:g} GiB through one step in {secs:.2f}s ({args.gib * 1024 / secs:.0f} MiB/s), "
              f"gantry peak RSS {rss_kib / 1024:.1f} MiB (target <= 64 MiB)")


if __name__ == "__main__":
    main()
