#!/usr/bin/env python3
"""Artifact figures, each against a baseline measured in the same run.

1. Upload of a 1 GiB artifact to the local store, end to end (the upload-artifact step's
   duration): MB/s and peak RSS of gantry, against `sha256sum` of the same file
   (target: >= 1 GB/s, RSS <= 64 MiB).
2. Upload of a 256 MiB artifact to the local S3 server (scripts/setup-s3.sh): the step's
   duration against one raw PUT of the same bytes with the same client library
   (object_store).

Usage: bench/artifacts.py [--gib 1] [--s3-mib 256]
Build first: cargo build --release -p gantry-cli -p gantry-artifact --bins --examples
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RELEASE = os.path.join(ROOT, "target", "release")


def upload_step_seconds(gantry, cwd, env, workflow):
    """Runs the workflow; returns (upload step seconds, peak RSS KiB of gantry and its children)."""
    code = (
        "import resource,subprocess,sys;"
        "p=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE,stderr=subprocess.PIPE);"
        "sys.stdout.write(p.stdout.decode());"
        "print('RSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", code, gantry, "run", "--bind", "--json", workflow], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True).stdout
    rss, rc, ms = 0, 1, None
    for line in out.splitlines():
        if line.startswith("RSS "):
            _, rss, rc = line.split()
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "step_finished" and "upload" in e.get("name", ""):
            ms = e["duration_ms"]
    if int(rc) != 0 or ms is None:
        sys.exit(f"{workflow} failed:\n{out[-2000:]}")
    return ms / 1000, int(rss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--s3-mib", type=int, default=256)
    args = ap.parse_args()
    gantry = os.path.join(RELEASE, "gantry")
    s3_put = os.path.join(RELEASE, "examples", "s3_put")
    for p in (gantry, s3_put):
        if not os.path.exists(p):
            sys.exit(f"{p} not found: cargo build --release -p gantry-cli -p gantry-artifact --bins --examples")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", "/var/tmp")) as tmp:
        env = dict(os.environ, GANTRY_STATE_DIR=os.path.join(tmp, "state"), NO_COLOR="1",
                   AWS_ACCESS_KEY_ID="gantry-test", AWS_SECRET_ACCESS_KEY="gantry-test-secret")
        with open(os.path.join(tmp, ".gitignore"), "w") as f:
            f.write("state/\n")
        size = int(args.gib * 1024 ** 3)
        os.makedirs(os.path.join(tmp, "big"))
        big = os.path.join(tmp, "big", "blob.bin")
        with open(big, "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(size // len(chunk)):
                f.write(chunk)
        with open(os.path.join(tmp, "up.yml"), "w") as f:
            f.write("jobs:\n  up:\n    runs-on: host\n    steps:\n"
                    "      - name: upload\n        uses: actions/upload-artifact@v4\n"
                    "        with:\n          name: big\n          path: big/blob.bin\n")
        # --bind: the job works in place, so only the upload itself moves the bytes.
        upload_step_seconds(gantry, tmp, env, "up.yml")
        ours, rss = min(upload_step_seconds(gantry, tmp, env, "up.yml") for _ in range(3))
        t = time.perf_counter()
        subprocess.run(["sha256sum", big], check=True, stdout=subprocess.DEVNULL)
        base = time.perf_counter() - t
        mbs = lambda s, n: n / s / 1e6
        print(f"1. {args.gib:g} GiB artifact to the local store: {mbs(ours, size):.0f} MB/s ({ours:.2f}s), "
              f"peak RSS {rss / 1024:.1f} MiB; sha256sum {mbs(base, size):.0f} MB/s ({base:.2f}s) "
              f"-> ratio {ours / base:.2f} (target >= 1 GB/s, RSS <= 64 MiB)")

        try:
            socket.create_connection(("127.0.0.1", 9000), timeout=1).close()
        except OSError:
            print("2. skipped: no S3 server on 127.0.0.1:9000 (scripts/setup-s3.sh)")
            return
        s3size = args.s3_mib * 1024 * 1024
        with open(big, "r+b") as f:
            f.truncate(s3size)
        with open(os.path.join(tmp, "gantry.toml"), "w") as f:
            f.write('[artifacts]\nstore = "s3"\n[artifacts.s3]\nendpoint = "http://127.0.0.1:9000"\n'
                    'bucket = "gantry-test"\nprefix = "bench"\n')
        upload_step_seconds(gantry, tmp, env, "up.yml")
        ours = min(upload_step_seconds(gantry, tmp, env, "up.yml")[0] for _ in range(3))
        raw = lambda: float(subprocess.run([s3_put, "http://127.0.0.1:9000", "gantry-test", "bench/raw.bin", big],
                                           env=env, capture_output=True, text=True, check=True).stdout)
        raw()
        base = min(raw() for _ in range(3))
        print(f"2. {args.s3_mib} MiB artifact to the S3 server: gantry {ours:.2f}s ({mbs(ours, s3size):.0f} MB/s), "
              f"one raw PUT with object_store {base:.2f}s -> ratio {ours / base:.2f}")


if __name__ == "__main__":
    main()
