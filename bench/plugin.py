#!/usr/bin/env python3
"""Plugin-protocol figures, each a ratio against a baseline measured in the same run.

1. Per-step cost: a 1000-step workflow on the reference plugin (gantry-plugin-host,
   launched over gRPC) vs the same workflow on the in-process host backend
   (target: ratio <= 1.5).
2. Exec log throughput through the plugin: one step writing 1 GiB to stdout, MB/s and
   peak RSS of gantry and everything it ran (target: >= 500 MB/s, memory flat), with
   the host backend as the baseline.
3. CopyIn of a 256 MiB tree through the plugin vs `tar -c | tar -x` of the same tree to
   disk (target: ratio <= 1.5).

Usage: bench/plugin.py [--steps 1000] [--gib 1] [--tree-mib 256]
Build first: cargo build --release -p gantry-cli -p gantry-plugin-host --bins --examples
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RELEASE = os.path.join(ROOT, "target", "release")


def timed(cmd, cwd, env):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}")
    return elapsed


def measured_rss(cmd, cwd, env):
    """(seconds, peak RSS in KiB over the command and all it waited for), in a fresh process."""
    code = (
        "import resource,subprocess,sys,time;"
        "t=time.perf_counter();"
        "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
        "e=time.perf_counter()-t;"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, e, p.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", code] + cmd, cwd=cwd, env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    if int(out[2]) != 0:
        sys.exit(f"{' '.join(cmd)} failed with {out[2]}")
    return float(out[1]), int(out[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--tree-mib", type=int, default=256)
    args = ap.parse_args()
    gantry = os.path.join(RELEASE, "gantry")
    plugin = os.path.join(RELEASE, "gantry-plugin-host")
    probe = os.path.join(RELEASE, "examples", "plugin_bench")
    for p in (gantry, plugin, probe):
        if not os.path.exists(p):
            sys.exit(f"{p} not found: cargo build --release -p gantry-cli -p gantry-plugin-host --bins --examples")

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GANTRY_STATE_DIR=os.path.join(tmp, "state"), NO_COLOR="1")
        with open(os.path.join(tmp, ".gitignore"), "w") as f:
            f.write("state/\nplugin-root/\ntree/\nout/\n")
        with open(os.path.join(tmp, "gantry.toml"), "w") as f:
            f.write(f'[labels]\nplugged = "ref"\n\n[plugins.ref]\ncommand = "{plugin}"\n'
                    f'args = ["--root", "{os.path.join(tmp, "plugin-root")}"]\n')
        subprocess.run([gantry, "plugin", "pin", "ref"], cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL)

        steps = "\n".join('      - run: "true"' for _ in range(args.steps))
        for label in ("host", "plugged"):
            with open(os.path.join(tmp, f"steps-{label}.yml"), "w") as f:
                f.write(f"defaults:\n  run:\n    shell: sh\njobs:\n  many:\n    runs-on: {label}\n    steps:\n{steps}\n")
        timed([gantry, "run", "--quiet", "steps-plugged.yml"], tmp, env)  # warm-up
        best = lambda wf: min(timed([gantry, "run", "--quiet", wf], tmp, env) for _ in range(3))
        host = best("steps-host.yml")
        plugged = best("steps-plugged.yml")
        ms = lambda t: t / args.steps * 1000
        print(f"1. {args.steps} steps: plugin {plugged:.3f}s ({ms(plugged):.2f} ms/step), in-process host "
              f"{host:.3f}s ({ms(host):.2f} ms/step) -> ratio {plugged / host:.2f} (target <= 1.5)")

        size = int(args.gib * 1024 ** 3)
        for label in ("host", "plugged"):
            with open(os.path.join(tmp, f"flood-{label}.yml"), "w") as f:
                f.write(f"jobs:\n  flood:\n    runs-on: {label}\n    steps:\n"
                        f"      - shell: sh\n        run: head -c {size} /dev/zero | tr '\\0' 'x'\n")
        base_secs, base_rss = measured_rss([gantry, "run", "flood-host.yml"], tmp, env)
        secs, rss = measured_rss([gantry, "run", "flood-plugged.yml"], tmp, env)
        mbs = lambda s: size / s / 1e6
        print(f"2a. {args.gib:g} GiB of step output through `gantry run` (engine, masking, log files "
              f"included): plugin {mbs(secs):.0f} MB/s, peak RSS {rss / 1024:.1f} MiB; in-process host "
              f"{mbs(base_secs):.0f} MB/s, peak RSS {base_rss / 1024:.1f} MiB -> ratio {mbs(secs) / mbs(base_secs):.2f}")
        bench = lambda *a: float(subprocess.run([probe, *a], capture_output=True, text=True, check=True).stdout.strip())
        bench("exec", plugin, str(size))
        exec_plugin = min(bench("exec", plugin, str(size)) for _ in range(3))
        exec_local = min(bench("exec", "in-process", str(size)) for _ in range(3))
        print(f"2b. {args.gib:g} GiB of exec output at the backend contract: plugin {mbs(exec_plugin):.0f} MB/s, "
              f"in-process host {mbs(exec_local):.0f} MB/s -> plugin/in-process {exec_local / exec_plugin:.2f} "
              f"(target >= 500 MB/s through the plugin)")

        tree = os.path.join(tmp, "tree")
        files = 64
        per = args.tree_mib * 1024 * 1024 // files
        for i in range(files):
            d = os.path.join(tree, f"d{i % 8}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"f{i}"), "wb") as f:
                f.write(os.urandom(per))
        out = os.path.join(tmp, "out")

        def local_tar():
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            start = time.perf_counter()
            subprocess.run(f"tar -cf - -C {tree} . | tar -xf - -C {out}", shell=True, check=True)
            return time.perf_counter() - start

        def through_plugin():
            return bench("copy-in", plugin, tree)

        through_plugin()
        base = min(local_tar() for _ in range(3))
        ours = min(through_plugin() for _ in range(3))
        print(f"3. CopyIn of a {args.tree_mib} MiB tree: plugin {ours:.3f}s, local tar|tar {base:.3f}s "
              f"-> ratio {ours / base:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
