#!/usr/bin/env python3
"""End-to-end tests of gantry_plugin.py over real gRPC.

Starts the plugin (in --listen unix mode and in launch mode), drives every RPC of
gantry.backend.v1.Backend and the health service, and exits non-zero on any failure.

    python3 plugins/python/test_plugin.py [-k SUBSTRING] [--output-mib N]
"""

import argparse
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.realpath(__file__))
PLUGIN = os.path.join(HERE, "gantry_plugin.py")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import gantry_plugin as gp  # noqa: E402

pb, pbg = gp.load_stubs(os.environ.get("GANTRY_PROTO") or gp.default_proto_path())
import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

MiB = 1 << 20
OPTIONS = [
    ("grpc.max_send_message_length", 16 * MiB),
    ("grpc.max_receive_message_length", 16 * MiB),
]
SH_PATH = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def expect_status(code, fn, *args, **kwargs):
    """Calls fn, which must fail with gRPC status `code`; returns the status message."""
    try:
        result = fn(*args, **kwargs)
        if hasattr(result, "__iter__") and not isinstance(result, (bytes, str)):
            for _ in result:
                pass
    except grpc.RpcError as e:
        check(e.code() == code, f"expected {code.name}, got {e.code().name}: {e.details()}")
        check(e.details(), f"{code.name} without a message")
        return e.details()
    raise Failure(f"expected {code.name}, the call succeeded")


# ---------------------------------------------------------------------------------------
# A running plugin


class Plugin:
    def __init__(self, root, sock, extra_env=None, label="plugin"):
        self.sock = sock
        self.log_path = f"{sock}.log"
        env = dict(os.environ)
        env.pop("GANTRY_PLUGIN_COOKIE", None)
        env.update(extra_env or {})
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, PLUGIN, "--listen", f"unix://{sock}", "--root", root],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        started = time.monotonic()
        deadline = started + 60
        # Connect only once the socket exists: a channel that failed once backs off ~1-5s.
        while not os.path.exists(sock) and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        self.channel = grpc.insecure_channel(f"unix://{sock}", options=OPTIONS)
        self.stub = pbg.BackendStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        while True:
            try:
                status = self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if status.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise Failure(f"{label} did not come up; log:\n{self.tail()}")
            time.sleep(0.05)
        self.startup = time.monotonic() - started

    def tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def copy_in(stub, cid, dest, data, chunk=MiB):
    def messages():
        yield pb.CopyInMessage(header=pb.CopyInHeader(container_id=cid, dest=dest))
        for i in range(0, len(data), chunk):
            yield pb.CopyInMessage(chunk=data[i : i + chunk])

    return stub.CopyIn(messages(), timeout=120)


def copy_out(stub, cid, path):
    sizes, parts = [], []
    for c in stub.CopyOut(pb.CopyOutRequest(container_id=cid, path=path), timeout=120):
        sizes.append(len(c.chunk))
        parts.append(c.chunk)
    return b"".join(parts), sizes


class Result:
    def __init__(self):
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.exit = None
        self.events = 0
        self.max_chunk = 0

    @property
    def shell_code(self):
        if self.exit is None:
            return None
        if self.exit.HasField("code"):
            return self.exit.code
        if self.exit.HasField("signal"):
            return 128 + self.exit.signal
        return -1


def consume(events, on_started=None):
    r = Result()
    for i, ev in enumerate(events):
        kind = ev.WhichOneof("event")
        check(r.exit is None, "an event after the exit event")
        if i == 0:
            check(kind == "started", f"first event is {kind}, not started")
            if on_started:
                on_started()
            continue
        check(kind != "started", "a second started event")
        if kind == "output":
            r.max_chunk = max(r.max_chunk, len(ev.output.data))
            if ev.output.stream == pb.STDOUT:
                r.stdout += ev.output.data
            elif ev.output.stream == pb.STDERR:
                r.stderr += ev.output.data
            else:
                raise Failure(f"output on stream {ev.output.stream}")
        elif kind == "exit":
            r.exit = ev.exit
        r.events += 1
    check(r.exit is not None, "the stream ended without an exit event")
    check(r.max_chunk <= MiB, f"an output chunk of {r.max_chunk} bytes (> 1 MiB)")
    return r


def run(stub, cid, argv, env=None, cwd="", exec_id=None, timeout=120, on_started=None):
    req = pb.ExecRequest(
        exec_id=exec_id or uuid.uuid4().hex,
        container_id=cid,
        argv=argv,
        env=SH_PATH if env is None else env,
        working_dir=cwd,
    )
    return consume(stub.Exec(req, timeout=timeout), on_started)


def sh(stub, cid, script, env=None, **kw):
    full = dict(SH_PATH)
    full.update(env or {})
    return run(stub, cid, ["sh", "-c", script], env=full, **kw)


def mark_alive(mark):
    """Whether a live (non-zombie) process carries GANTRY_TEST_MARK=mark."""
    needle = f"GANTRY_TEST_MARK={mark}".encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != b"Z":
            return True
    return False


def wait_until(fn, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.05)
    return fn()


def start_background(stub, cid, mark):
    out = sh(stub, cid, "GANTRY_TEST_MARK=$M sleep 1000 >/dev/null 2>&1 & echo $!", {"M": mark})
    check(out.shell_code == 0 and out.stdout.strip(), f"background start: {out.stdout!r} {out.stderr!r}")
    check(wait_until(lambda: mark_alive(mark)), "the background process is not running")


def tree_tar(big):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:

        def add(name, kind, data=b"", mode=0o644, link=""):
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mode = mode
            ti.mtime = 1_700_000_000
            ti.linkname = link
            ti.size = len(data) if kind == tarfile.REGTYPE else 0
            tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add("tree/", tarfile.DIRTYPE, mode=0o755)
        add("tree/empty/", tarfile.DIRTYPE, mode=0o750)
        add("tree/run.sh", tarfile.REGTYPE, b"#!/bin/sh\necho run\n", mode=0o755)
        add("tree/big.bin", tarfile.REGTYPE, big, mode=0o600)
        add("tree/link", tarfile.SYMTYPE, link="big.bin", mode=0o777)
        add("tree/sub/", tarfile.DIRTYPE, mode=0o755)
        add("tree/sub/up", tarfile.SYMTYPE, link="../run.sh", mode=0o777)
        add("tree/sub/hard", tarfile.LNKTYPE, link="tree/run.sh")
        add("tree/" + "long-name-" * 12 + ".txt", tarfile.REGTYPE, b"long\n")
    return buf.getvalue()


def evil_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, kind, link in entries:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.linkname = link
            data = b"bad" if kind == tarfile.REGTYPE else b""
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data else None)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------
# Cases


class Suite:
    def __init__(self, work, output_mib):
        self.work = work
        self.root = os.path.join(work, "root")
        self.output_mib = output_mib
        self.plugin = None
        self.env_id = None
        self.cid = None
        self.info = None
        self.notes = []

    @property
    def stub(self):
        return self.plugin.stub

    def start(self, name="p1"):
        self.plugin = Plugin(
            self.root,
            os.path.join(self.work, f"{name}.sock"),
            {"GANTRY_PLUGIN_TEST_HIDDEN": "x", "GANTRY_TEST_VISIBLE": "y"},
        )
        self.notes.append(f"plugin startup (stub generation included): {self.plugin.startup:.2f}s")

    def new_env(self, run_id="run-main", job_id="build"):
        resp = self.stub.CreateEnvironment(
            pb.CreateEnvironmentRequest(run_id=run_id, job_id=job_id, label=pb.Label(label="python")),
            timeout=10,
        )
        info = self.stub.Primary(pb.PrimaryRequest(environment_id=resp.environment_id), timeout=10)
        return resp, info

    # --- backend layer

    def test_capabilities(self):
        c = self.stub.GetCapabilities(
            pb.GetCapabilitiesRequest(protocol_version=1, protocol_revision=1, client_version="test"),
            timeout=10,
        )
        check((c.protocol_version, c.protocol_revision) == (1, 1), f"version {c.protocol_version}.{c.protocol_revision}")
        check(c.backend_name == "python-host", c.backend_name)
        check(not (c.job_container or c.services or c.step_containers or c.own_networking), "a container capability is on")
        check(c.os == "Linux" and c.arch in ("X64", "ARM64"), f"{c.os}/{c.arch}")
        check(c.paths.style == "posix", c.paths.style)
        check(c.workspace == pb.UPLOAD, f"workspace delivery {c.workspace}")
        check(c.runner.environment == "self-hosted", c.runner.environment)

    def test_validate_label(self):
        v = lambda **kw: self.stub.ValidateLabel(pb.ValidateLabelRequest(label=pb.Label(label="l", **kw)), timeout=10).error
        check(v() == "", "an empty target was refused")
        check(v(options={"shell": "bash"}) == "", "option shell was refused")
        check("target" in v(target="ubuntu:22.04"), "a target was accepted")
        check("nope" in v(options={"nope": "1"}), "an unknown option was accepted")
        check(self.stub.ValidateLabel(pb.ValidateLabelRequest(), timeout=10).error == "", "no label at all was refused")

    # --- environments

    def test_create_environment(self):
        resp, info = self.new_env()
        self.env_id, self.cid, self.info = resp.environment_id, info.container_id, info
        check(len(resp.environment_id) == 32, resp.environment_id)
        check(info.container_id == f"{resp.environment_id}/primary", info.container_id)
        check(resp.runner.temp == info.temp and os.path.isdir(info.temp), "runner.temp")
        check(os.path.isabs(info.workspace) and os.path.isdir(info.workspace), info.workspace)
        check(info.workspace.startswith(os.path.realpath(self.root)), info.workspace)
        env = dict(info.inherited_env)
        check("GANTRY_PLUGIN_TEST_HIDDEN" not in env, "GANTRY_PLUGIN* leaked into inherited_env")
        check(env.get("GANTRY_TEST_VISIBLE") == "y", "inherited_env lacks the plugin's environment")
        meta = json.load(open(os.path.join(self.root, resp.environment_id, "meta.json")))
        check(meta["run_id"] == "run-main" and meta["job_id"] == "build", meta)
        again = self.stub.Primary(pb.PrimaryRequest(environment_id=resp.environment_id), timeout=10)
        check(again.container_id == info.container_id, "Primary is not stable")

    # --- files

    def test_copy_in_tree(self):
        big = bytes((i * 2654435761 >> 13) & 0xFF for i in range(256)) * (24 * MiB // 256 + 7)
        digest = hashlib.sha256(big).hexdigest()
        data = tree_tar(big)
        t = time.monotonic()
        copy_in(self.stub, self.cid, self.info.workspace, data, chunk=MiB - 7)
        secs = time.monotonic() - t
        self.notes.append(f"CopyIn {len(data) / MiB:.1f} MiB archive: {secs:.2f}s ({len(data) / MiB / secs:.0f} MiB/s)")
        tree = os.path.join(self.info.workspace, "tree")
        check(os.readlink(os.path.join(tree, "link")) == "big.bin", "symlink lost")
        check(os.readlink(os.path.join(tree, "sub", "up")) == "../run.sh", "relative ../ symlink lost")
        check(os.stat(os.path.join(tree, "run.sh")).st_mode & 0o777 == 0o755, "exec bit lost")
        check(os.stat(os.path.join(tree, "big.bin")).st_mode & 0o777 == 0o600, "mode 0600 lost")
        check(os.stat(os.path.join(tree, "empty")).st_mode & 0o777 == 0o750, "dir mode lost")
        check(os.path.samefile(os.path.join(tree, "sub", "hard"), os.path.join(tree, "run.sh")), "hard link lost")
        check(int(os.stat(os.path.join(tree, "run.sh")).st_mtime) == 1_700_000_000, "mtime lost")
        out = sh(self.stub, self.cid, "cd tree && sha256sum big.bin && readlink link && test -d empty && ./run.sh && cat long-name-*")
        text = out.stdout.decode()
        check(out.shell_code == 0, f"check script: {text} {out.stderr!r}")
        check(digest in text and "big.bin\nrun\nlong\n" in text, text)
        # Compressed archives work too (mode r|*).
        gz = io.BytesIO()
        with tarfile.open(fileobj=gz, mode="w:gz") as tf:
            ti = tarfile.TarInfo("gz/hello")
            ti.size = 3
            tf.addfile(ti, io.BytesIO(b"hi\n"))
        copy_in(self.stub, self.cid, os.path.join(self.info.temp, "z"), gz.getvalue())
        check(open(os.path.join(self.info.temp, "z", "gz", "hello")).read() == "hi\n", "gzip archive")
        # An empty upload unpacks nothing and creates dest.
        copy_in(self.stub, self.cid, os.path.join(self.info.temp, "empty-upload"), b"")
        check(os.path.isdir(os.path.join(self.info.temp, "empty-upload")), "dest not created")

    def test_copy_in_refuses(self):
        temp = self.info.temp
        cases = [
            ("dotdot", [("../escaped", tarfile.REGTYPE, "")]),
            ("deep-dotdot", [("a/../../escaped", tarfile.REGTYPE, "")]),
            ("absolute", [(os.path.join(temp, "escaped"), tarfile.REGTYPE, "")]),
            ("abs-symlink", [("ln", tarfile.SYMTYPE, "/etc")]),
            ("out-symlink", [("ln", tarfile.SYMTYPE, "../../..")]),
            ("hardlink-out", [("hl", tarfile.LNKTYPE, "../escaped")]),
            ("via-symlink", [("d", tarfile.SYMTYPE, "."), ("d/../escaped", tarfile.REGTYPE, "")]),
            ("late-symlink", [("l", tarfile.SYMTYPE, "s/.."), ("s", tarfile.SYMTYPE, ".")]),
        ]
        for name, entries in cases:
            dest = os.path.join(temp, "in", name)
            msg = expect_status(grpc.StatusCode.INVALID_ARGUMENT, copy_in, self.stub, self.cid, dest, evil_tar(entries))
            check("refused" in msg or "outside" in msg, f"{name}: {msg}")
            check(not os.path.lexists(os.path.join(temp, "in", "escaped")), f"{name}: escaped")
            check(not os.path.lexists(os.path.join(temp, "escaped")), f"{name}: escaped")
        ok = evil_tar([("x", tarfile.REGTYPE, "")])
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, copy_in, self.stub, self.cid, "relative/dir", ok)
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, copy_in, self.stub, self.cid, "/tmp", ok)
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, copy_in, self.stub, self.cid, os.path.join(self.info.workspace, "..", "..", "x"), ok)
        expect_status(grpc.StatusCode.NOT_FOUND, copy_in, self.stub, "0" * 32 + "/primary", "/tmp/x", ok)
        msg = expect_status(
            grpc.StatusCode.INVALID_ARGUMENT,
            self.stub.CopyIn,
            iter([pb.CopyInMessage(chunk=b"x")]),
            timeout=10,
        )
        check("first CopyIn message must be the header" in msg, msg)
        msg = expect_status(
            grpc.StatusCode.INVALID_ARGUMENT,
            copy_in,
            self.stub,
            self.cid,
            os.path.join(temp, "garbage"),
            b"this is not a tar archive" * 100,
        )
        check("tar" in msg, msg)

    def test_write_read_files(self):
        temp = self.info.temp
        self.stub.WriteFiles(
            pb.WriteFilesRequest(
                container_id=self.cid,
                files=[
                    pb.FileToWrite(path=f"{temp}/deep/er/a.txt", contents=b"contents\n", mode=0o640),
                    pb.FileToWrite(path=f"{temp}/script.sh", contents=b"#!/bin/sh\necho script\n", mode=0o755),
                    pb.FileToWrite(path=f"{temp}/envfile", contents=b"", mode=0o666),
                ],
            ),
            timeout=10,
        )
        check(os.stat(f"{temp}/deep/er/a.txt").st_mode & 0o777 == 0o640, "mode 0640 not applied")
        check(os.stat(f"{temp}/envfile").st_mode & 0o777 == 0o666, "mode 0666 not applied (umask?)")
        out = sh(self.stub, self.cid, f'"{temp}/script.sh"; echo A=1 >> "$F"; printf "B<<E\\nx\\nE\\n" >> "$F"', {"F": f"{temp}/envfile"})
        check(out.stdout == b"script\n", out.stdout)
        r = self.stub.ReadEnvFile(
            pb.ReadEnvFileRequest(container_id=self.cid, paths=[f"{temp}/deep/er/a.txt", f"{temp}/nope", f"{temp}/envfile"]),
            timeout=10,
        )
        check([f.exists for f in r.files] == [True, False, True], r.files)
        check(r.files[0].contents == b"contents\n" and r.files[2].contents == b"A=1\nB<<E\nx\nE\n", r.files)
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, self.stub.WriteFiles,
                      pb.WriteFilesRequest(container_id=self.cid, files=[pb.FileToWrite(path="rel.txt")]), timeout=10)
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, self.stub.ReadEnvFile,
                      pb.ReadEnvFileRequest(container_id=self.cid, paths=["rel.txt"]), timeout=10)
        expect_status(grpc.StatusCode.NOT_FOUND, self.stub.WriteFiles,
                      pb.WriteFilesRequest(container_id="nope/primary", files=[]), timeout=10)

    def test_copy_out(self):
        ws = self.info.workspace
        data, sizes = copy_out(self.stub, self.cid, f"{ws}/tree/")
        check(max(sizes) <= MiB, f"chunk of {max(sizes)} bytes")
        names = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            for m in tf:
                names[m.name.rstrip("/")] = m
                if m.name == "tree/big.bin":
                    got = hashlib.sha256(tf.extractfile(m).read()).hexdigest()
        want = hashlib.sha256(open(f"{ws}/tree/big.bin", "rb").read()).hexdigest()
        check(all(n == "tree" or n.startswith("tree/") for n in names), sorted(names))
        check(got == want, "big.bin differs after CopyOut")
        check(names["tree/link"].issym() and names["tree/link"].linkname == "big.bin", "symlink not kept")
        check(names["tree/run.sh"].mode & 0o777 == 0o755, "mode not kept")
        check(names["tree/empty"].isdir(), "empty dir missing")
        # Round trip: what CopyOut gives, CopyIn takes.
        copy_in(self.stub, self.cid, f"{self.info.temp}/rt", data)
        check(os.readlink(f"{self.info.temp}/rt/tree/link") == "big.bin", "round trip symlink")
        back = hashlib.sha256(open(f"{self.info.temp}/rt/tree/big.bin", "rb").read()).hexdigest()
        check(back == want, "round trip content")
        single, _ = copy_out(self.stub, self.cid, f"{ws}/tree/run.sh")
        with tarfile.open(fileobj=io.BytesIO(single)) as tf:
            check(tf.getnames() == ["run.sh"], tf.getnames())
        expect_status(grpc.StatusCode.NOT_FOUND, copy_out, self.stub, self.cid, f"{ws}/missing")
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, copy_out, self.stub, self.cid, "tree")

    # --- exec

    def test_exec_basics(self):
        out = sh(self.stub, self.cid, "echo hello; echo oops >&2; exit 3")
        check(out.stdout == b"hello\n" and out.stderr == b"oops\n", (out.stdout, out.stderr))
        check(out.exit.HasField("code") and out.exit.code == 3 and not out.exit.HasField("signal"), out.exit)
        check(sh(self.stub, self.cid, "true").exit.code == 0, "true")
        killed = sh(self.stub, self.cid, "kill -9 $$")
        check(killed.exit.HasField("signal") and killed.exit.signal == 9, f"kill -9 gave {killed.exit}")
        missing = run(self.stub, self.cid, ["/definitely/not/a/program"])
        check(missing.shell_code == 127 and b"not/a/program" in missing.stderr, (missing.exit, missing.stderr))
        missing = run(self.stub, self.cid, ["no-such-program-on-path"])
        check(missing.shell_code == 127, missing.exit)
        cwd = sh(self.stub, self.cid, "pwd")
        check(cwd.stdout.decode().strip() == self.info.workspace, f"default cwd {cwd.stdout!r}")
        sub = f"{self.info.workspace}/tree/sub"
        check(sh(self.stub, self.cid, "pwd", cwd=sub).stdout.decode().strip() == sub, "absolute working_dir")
        msg = expect_status(grpc.StatusCode.INVALID_ARGUMENT, sh, self.stub, self.cid, "pwd", cwd="tree")
        check("absolute" in msg, msg)
        expect_status(grpc.StatusCode.FAILED_PRECONDITION, sh, self.stub, self.cid, "pwd", cwd="/no/such/dir")
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, run, self.stub, self.cid, [])
        expect_status(grpc.StatusCode.NOT_FOUND, run, self.stub, "f" * 32 + "/primary", ["true"])
        expect_status(grpc.StatusCode.NOT_FOUND, run, self.stub, f"{self.env_id}/job", ["true"])
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, run, self.stub, "", ["true"])
        reused = uuid.uuid4().hex
        run(self.stub, self.cid, ["true"], exec_id=reused)
        msg = expect_status(grpc.StatusCode.INVALID_ARGUMENT, run, self.stub, self.cid, ["true"], exec_id=reused)
        check(reused in msg, msg)
        # argv[0] is looked up on the request's PATH, not the plugin's.
        os.makedirs(f"{self.info.temp}/bin", exist_ok=True)
        with open(f"{self.info.temp}/bin/hello-tool", "w") as f:
            f.write("#!/bin/sh\necho tool\n")
        os.chmod(f"{self.info.temp}/bin/hello-tool", 0o755)
        tool = run(self.stub, self.cid, ["hello-tool"], env={"PATH": f"{self.info.temp}/bin:/usr/bin:/bin"})
        check(tool.stdout == b"tool\n", (tool.stdout, tool.stderr))

    def test_exec_env_exact(self):
        value = "spaces and 'quotes' \"double\" $dollar\nnewline\ttab ünïcode"
        out = run(self.stub, self.cid, ["/usr/bin/env", "-0"], env={"V": value, "EMPTY": ""})
        seen = dict(kv.split("=", 1) for kv in out.stdout.decode().split("\0") if kv)
        check(seen == {"V": value, "EMPTY": "", "PATH": "/usr/local/bin:/usr/bin:/bin"}, seen)
        out = run(self.stub, self.cid, ["/usr/bin/env", "-0"], env={"PATH": "/bin:/usr/bin"})
        seen = dict(kv.split("=", 1) for kv in out.stdout.decode().split("\0") if kv)
        check(seen == {"PATH": "/bin:/usr/bin"}, seen)
        leak = sh(self.stub, self.cid, 'printf %s "${V-unset}${GANTRY_TEST_VISIBLE-unset}"')
        check(leak.stdout == b"unsetunset", leak.stdout)

    def test_exec_large_output(self):
        n = self.output_mib * MiB
        t = time.monotonic()
        out = run(self.stub, self.cid, ["head", "-c", str(n), "/dev/zero"], timeout=600)
        secs = time.monotonic() - t
        check(len(out.stdout) == n and out.exit.code == 0, f"{len(out.stdout)} of {n} bytes, {out.exit}")
        rate = n / MiB / secs
        self.notes.append(
            f"Exec output: {self.output_mib} MiB in {secs:.2f}s = {rate:.0f} MiB/s "
            f"({out.events} events, largest chunk {out.max_chunk} bytes)"
        )
        print(f"    {self.output_mib} MiB of exec output in {secs:.2f}s: {rate:.0f} MiB/s ({n / 1e6 / secs:.0f} MB/s)")
        check(rate > 100, f"only {rate:.0f} MiB/s")
        both = sh(self.stub, self.cid, "head -c 5000000 /dev/zero; head -c 3000000 /dev/zero >&2")
        check((len(both.stdout), len(both.stderr)) == (5000000, 3000000), (len(both.stdout), len(both.stderr)))

    def test_signal_terminate(self):
        exec_id = uuid.uuid4().hex
        sent = {}

        def terminate():
            def later():
                time.sleep(0.3)
                sent["t"] = time.monotonic()
                self.stub.Signal(pb.SignalRequest(exec_id=exec_id, level=pb.TERMINATE), timeout=10)
            threading.Thread(target=later).start()

        out = run(self.stub, self.cid, ["sleep", "60"], exec_id=exec_id, timeout=30, on_started=terminate)
        check(out.exit.HasField("signal") and out.exit.signal == 15, f"sleep after TERM: {out.exit}")
        check(time.monotonic() - sent["t"] < 5, "TERM took too long")
        # A script that traps TERM exits 143 by itself.
        exec_id = uuid.uuid4().hex
        out = sh(self.stub, self.cid, "trap 'exit 143' TERM; while :; do sleep 0.1; done", exec_id=exec_id, timeout=30,
                 on_started=lambda: threading.Timer(0.3, lambda: self.stub.Signal(pb.SignalRequest(exec_id=exec_id, level=pb.TERMINATE))).start())
        check(out.shell_code == 143, f"trap TERM gave {out.exit}")
        # Finished or unknown exec ids: success, nothing happens.
        self.stub.Signal(pb.SignalRequest(exec_id=exec_id, level=pb.KILL), timeout=10)
        self.stub.Signal(pb.SignalRequest(exec_id="never-seen", level=pb.TERMINATE), timeout=10)
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, self.stub.Signal,
                      pb.SignalRequest(exec_id=exec_id, level=pb.STOP_LEVEL_UNSPECIFIED), timeout=10)

    def test_signal_kill_after_ignored_term(self):
        exec_id = uuid.uuid4().hex
        state = {}

        def escalate():
            def later():
                time.sleep(0.3)
                self.stub.Signal(pb.SignalRequest(exec_id=exec_id, level=pb.TERMINATE), timeout=10)
                time.sleep(1.0)
                state["alive_after_term"] = "result" not in state
                self.stub.Signal(pb.SignalRequest(exec_id=exec_id, level=pb.KILL), timeout=10)
            threading.Thread(target=later).start()

        out = sh(self.stub, self.cid, "trap '' TERM; sleep 1000", exec_id=exec_id, timeout=30, on_started=escalate)
        state["result"] = out
        check(state.get("alive_after_term"), "a process ignoring TERM died on TERM")
        check(out.exit.HasField("signal") and out.exit.signal == 9, f"after KILL: {out.exit}")

    def test_cancel_kills(self):
        mark = uuid.uuid4().hex
        call = self.stub.Exec(
            pb.ExecRequest(exec_id=uuid.uuid4().hex, container_id=self.cid,
                           argv=["sh", "-c", "sleep 1000 & sleep 1000; wait"],
                           env=dict(SH_PATH, GANTRY_TEST_MARK=mark)),
            timeout=60,
        )
        first = next(call)
        check(first.WhichOneof("event") == "started", first)
        check(wait_until(lambda: mark_alive(mark)), "the exec is not running")
        call.cancel()
        check(wait_until(lambda: not mark_alive(mark)), "the process survived cancellation")

    def test_background_does_not_hold_exec(self):
        mark = uuid.uuid4().hex
        t = time.monotonic()
        out = sh(self.stub, self.cid, "GANTRY_TEST_MARK=$M sleep 1000 & echo started", {"M": mark}, timeout=30)
        secs = time.monotonic() - t
        check(out.stdout == b"started\n" and out.exit.code == 0, out.stdout)
        check(secs < 3, f"a background child holding the pipes kept the exec open {secs:.1f}s")
        check(mark_alive(mark), "the background process died with its exec")
        self.background_mark = mark  # killed by the RemoveEnvironment case

    def test_concurrent_execs(self):
        results = [None] * 6

        def go(i):
            try:
                results[i] = sh(self.stub, self.cid, f"head -c {i + 1}000000 /dev/zero; echo done-{i} >&2")
            except Exception as e:  # noqa: BLE001
                results[i] = e

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, r in enumerate(results):
            check(isinstance(r, Result), f"exec {i}: {r}")
            check(len(r.stdout) == (i + 1) * 1000000 and r.stderr == f"done-{i}\n".encode(), f"exec {i} mixed up")

    # --- containers

    def test_errors_are_statuses(self):
        class Aborted(Exception):
            pass

        class Context:
            def abort(self, code, details):
                self.status = (code, details)
                raise Aborted()

        def boom(self, request, context):
            raise KeyError("surprise")

        def boom_stream(self, request, context):
            yield 1
            raise ZeroDivisionError("late")

        gp.log.disabled = True  # the tracebacks these log are expected
        for handler, consume_all in ((gp.unary(boom), False), (gp.streaming(boom_stream), True)):
            ctx = Context()
            try:
                result = handler(None, None, ctx)
                if consume_all:
                    list(result)
                raise Failure("no abort")
            except Aborted:
                pass
            check(ctx.status[0] == grpc.StatusCode.INTERNAL and "internal error" in ctx.status[1], ctx.status)
        gp.log.disabled = False
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, self.stub.ReadEnvFile,
                      pb.ReadEnvFileRequest(container_id=self.cid, paths=["/tmp/a\0b"]), timeout=10)
        msg = expect_status(grpc.StatusCode.FAILED_PRECONDITION, self.stub.ReadEnvFile,
                            pb.ReadEnvFileRequest(container_id=self.cid, paths=[self.info.temp]), timeout=10)
        check(self.info.temp in msg, msg)
        # The plugin is still fine.
        check(sh(self.stub, self.cid, "echo alive").stdout == b"alive\n", "plugin unhealthy after errors")

    def test_containers(self):
        h = self.stub.Health(pb.ContainerRef(container_id=self.cid), timeout=10)
        check(h.state == pb.RUNNING, h)
        self.stub.StartContainer(pb.ContainerRef(container_id=self.cid), timeout=10)
        self.stub.StartContainer(pb.ContainerRef(container_id=self.cid), timeout=10)
        msg = expect_status(grpc.StatusCode.FAILED_PRECONDITION, self.stub.CreateContainer,
                            pb.CreateContainerRequest(environment_id=self.env_id,
                                                      spec=pb.ContainerSpec(kind=pb.SERVICE, name="db", image="postgres")),
                            timeout=10)
        check("runs no containers" in msg, msg)
        expect_status(grpc.StatusCode.NOT_FOUND, self.stub.Health, pb.ContainerRef(container_id="a/primary"), timeout=10)
        expect_status(grpc.StatusCode.NOT_FOUND, self.stub.StartContainer, pb.ContainerRef(container_id=f"{self.env_id}/db"), timeout=10)
        expect_status(grpc.StatusCode.NOT_FOUND, self.stub.Primary, pb.PrimaryRequest(environment_id="nope"), timeout=10)
        expect_status(grpc.StatusCode.NOT_FOUND, self.stub.Primary, pb.PrimaryRequest(environment_id="0" * 32), timeout=10)
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, self.stub.CreateEnvironment,
                      pb.CreateEnvironmentRequest(run_id="", job_id="x"), timeout=10)
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, self.stub.CreateEnvironment,
                      pb.CreateEnvironmentRequest(run_id="r", job_id="x", label=pb.Label(label="l", target="img")), timeout=10)

    def test_remove_container_kills_background(self):
        _, info = self.new_env(job_id="rc")
        mark = uuid.uuid4().hex
        start_background(self.stub, info.container_id, mark)
        self.stub.RemoveContainer(pb.ContainerRef(container_id=info.container_id), timeout=30)
        check(not mark_alive(mark), "the background process survived RemoveContainer")
        self.stub.RemoveContainer(pb.ContainerRef(container_id=info.container_id), timeout=30)
        self.stub.RemoveContainer(pb.ContainerRef(container_id="whatever/primary"), timeout=30)
        env_id = info.container_id.split("/")[0]
        self.stub.RemoveEnvironment(pb.RemoveEnvironmentRequest(environment_id=env_id), timeout=30)

    def test_remove_environment(self):
        mark = uuid.uuid4().hex
        start_background(self.stub, self.cid, mark)
        env_dir = os.path.join(self.root, self.env_id)
        meta = json.load(open(os.path.join(env_dir, "meta.json")))
        groups = meta["process_groups"]
        check(2 <= len(groups) <= 4, f"want the groups with background processes only: {groups}")
        check(all(not g["running"] and g["pgid"] > 1 for g in groups), f"finished execs still marked running: {groups}")
        self.stub.RemoveEnvironment(pb.RemoveEnvironmentRequest(environment_id=self.env_id), timeout=30)
        check(not mark_alive(mark), "the background process survived RemoveEnvironment")
        bg = getattr(self, "background_mark", None)
        check(bg is None or not mark_alive(bg), "the pipe-holding background process survived RemoveEnvironment")
        check(not os.path.exists(env_dir), "the environment directory is still there")
        check([n for n in os.listdir(self.root) if n.startswith(".removing")] == [], os.listdir(self.root))
        self.stub.RemoveEnvironment(pb.RemoveEnvironmentRequest(environment_id=self.env_id), timeout=30)
        self.stub.RemoveEnvironment(pb.RemoveEnvironmentRequest(environment_id="unknown"), timeout=30)
        self.stub.RemoveEnvironment(pb.RemoveEnvironmentRequest(environment_id="../../etc"), timeout=30)
        expect_status(grpc.StatusCode.NOT_FOUND, self.stub.Primary, pb.PrimaryRequest(environment_id=self.env_id), timeout=10)
        expect_status(grpc.StatusCode.NOT_FOUND, sh, self.stub, self.cid, "true")

    def test_reap_in_process(self):
        # The conformance suite's reap-dead-run: reap([]) in the same plugin process.
        resp, info = self.new_env(run_id="run-reap-same")
        mark = uuid.uuid4().hex
        start_background(self.stub, info.container_id, mark)
        report = self.stub.Reap(pb.ReapRequest(live_run_ids=[]), timeout=60)
        check(any(resp.environment_id in line for line in report.removed), report)
        check(not mark_alive(mark), "reap left the background process alive")
        self.stub.RemoveEnvironment(pb.RemoveEnvironmentRequest(environment_id=resp.environment_id), timeout=30)

    def test_reap_after_plugin_killed(self):
        dead, dead_info = self.new_env(run_id="run-dead", job_id="a")
        live, live_info = self.new_env(run_id="run-live", job_id="b")
        dead_mark, live_mark = uuid.uuid4().hex, uuid.uuid4().hex
        start_background(self.stub, dead_info.container_id, dead_mark)
        start_background(self.stub, live_info.container_id, live_mark)
        # A directory without meta.json (a plugin killed inside CreateEnvironment).
        orphan = os.path.join(self.root, "ab" * 16)
        os.makedirs(orphan)
        self.plugin.proc.send_signal(signal.SIGKILL)
        self.plugin.proc.wait()
        self.plugin.close()
        check(mark_alive(dead_mark) and mark_alive(live_mark), "processes died with the plugin (nothing to reap)")
        self.start("p2")
        report = self.stub.Reap(pb.ReapRequest(live_run_ids=["run-live", "run-other"]), timeout=60)
        removed = "\n".join(report.removed)
        check(dead.environment_id in removed and "run-dead" in removed, report)
        check("ab" * 16 in removed, f"the meta-less directory was not reaped: {report}")
        check(live.environment_id not in removed and not report.failed, report)
        check(wait_until(lambda: not mark_alive(dead_mark), 3), "the dead run's process survived Reap")
        check(mark_alive(live_mark), "Reap killed a live run's process")
        check(not os.path.exists(os.path.join(self.root, dead.environment_id)), "dead env dir kept")
        # The live environment survives a plugin restart and stays usable.
        info = self.stub.Primary(pb.PrimaryRequest(environment_id=live.environment_id), timeout=10)
        check(info.workspace == live_info.workspace, info)
        check(sh(self.stub, info.container_id, "echo still-here").stdout == b"still-here\n", "exec after restart")
        self.stub.RemoveEnvironment(pb.RemoveEnvironmentRequest(environment_id=live.environment_id), timeout=30)
        check(not mark_alive(live_mark), "RemoveEnvironment after a restart left a process alive")
        again = self.stub.Reap(pb.ReapRequest(live_run_ids=[]), timeout=60)
        check(not again.failed, again)

    def test_sigterm_shutdown(self):
        status = self.plugin.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        check(status.status == health_pb2.HealthCheckResponse.SERVING, status)
        resp, info = self.new_env(run_id="run-term")
        mark = uuid.uuid4().hex
        start_background(self.stub, info.container_id, mark)
        # An exec still streaming when SIGTERM arrives ends with its exit event.
        events = []
        streaming = threading.Thread(
            target=lambda: events.append(sh(self.stub, info.container_id, "sleep 1000", timeout=30)), daemon=True
        )
        streaming.start()
        time.sleep(0.5)
        self.plugin.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.plugin.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise Failure("the plugin did not exit within 20s of SIGTERM")
        check(rc == 0, f"exit code {rc} after SIGTERM")
        streaming.join(5)
        check(events and events[0].exit.signal == 9, f"streaming exec: {events}")
        check(not mark_alive(mark), "a background process survived shutdown")
        check(not os.path.exists(os.path.join(self.root, resp.environment_id)), "environment left after shutdown")
        check(not os.path.exists(self.plugin.sock), "socket file left behind")
        self.plugin.close()

    # --- transports

    def test_transports(self):
        env = dict(os.environ)
        env.pop("GANTRY_PLUGIN_COOKIE", None)
        p = subprocess.run([sys.executable, PLUGIN], env=env, capture_output=True, timeout=60)
        check(p.returncode == 1 and p.stdout == b"", (p.returncode, p.stdout))
        check(b"this is a gantry backend plugin; gantry starts it (see docs/plugins.md), or pass --listen ADDRESS" in p.stderr, p.stderr)
        p = subprocess.run([sys.executable, PLUGIN, "--listen", "tcp://127.0.0.1:0"], env=env, capture_output=True, timeout=60)
        check(p.returncode != 0 and b"--insecure" in p.stderr, p.stderr)
        p = subprocess.run([sys.executable, PLUGIN], env=dict(env, GANTRY_PLUGIN_COOKIE="wrong"), capture_output=True, timeout=60)
        check(p.returncode != 0 and p.stdout == b"", p.stderr)

        # tcp with --insecure: the port is chosen by the OS and logged.
        proc = subprocess.Popen(
            [sys.executable, PLUGIN, "--listen", "tcp://127.0.0.1:0", "--insecure", "--root", self.root],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            port = None
            deadline = time.monotonic() + 60
            while port is None and time.monotonic() < deadline:
                line = proc.stderr.readline().decode()
                if not line:
                    break
                if "listening on tcp://127.0.0.1:" in line:
                    port = int(line.rsplit(":", 1)[1].split()[0])
            check(port, "no tcp port logged")
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                caps = pbg.BackendStub(ch).GetCapabilities(pb.GetCapabilitiesRequest(), timeout=10)
                check(caps.backend_name == "python-host", caps)
            proc.send_signal(signal.SIGTERM)
            check(proc.wait(timeout=20) == 0, "tcp plugin exit code")
            check(proc.stdout.read() == b"", "stdout used in --listen mode")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

        for with_dir in (True, False):
            sock_dir = tempfile.mkdtemp(prefix="sk-", dir=self.work)
            launch_env = dict(env, GANTRY_PLUGIN_COOKIE="gantry-backend-plugin-v1", GANTRY_PLUGIN_ROOT=self.root)
            if with_dir:
                launch_env["GANTRY_PLUGIN_SOCKET_DIR"] = sock_dir
            else:
                launch_env.pop("GANTRY_PLUGIN_SOCKET_DIR", None)
            proc = subprocess.Popen([sys.executable, PLUGIN], env=launch_env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                line = proc.stdout.readline().decode()
                parts = line.rstrip("\n").split("|")
                check(line.endswith("\n") and len(parts) == 5, f"handshake line {line!r}")
                check(parts[:3] == ["1", "1", "unix"] and parts[4] == "grpc", line)
                path = parts[3]
                check(os.path.isabs(path) and os.path.basename(path) == f"python-{proc.pid}.sock", path)
                if with_dir:
                    check(os.path.dirname(path) == os.path.realpath(sock_dir), path)
                with grpc.insecure_channel(f"unix://{path}") as ch:
                    caps = pbg.BackendStub(ch).GetCapabilities(pb.GetCapabilitiesRequest(), timeout=10)
                    check(caps.backend_name == "python-host", caps)
                    h = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
                    check(h.status == health_pb2.HealthCheckResponse.SERVING, h)
                proc.send_signal(signal.SIGTERM)
                check(proc.wait(timeout=20) == 0, "launch-mode exit code")
                check(proc.stdout.read() == b"", "more than one line on stdout")
                check(not os.path.exists(path), "socket left behind")
                if not with_dir:
                    check(not os.path.exists(os.path.dirname(path)), "fallback socket dir left behind")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


ORDER = [
    "capabilities",
    "validate_label",
    "create_environment",
    "copy_in_tree",
    "copy_in_refuses",
    "write_read_files",
    "copy_out",
    "exec_basics",
    "exec_env_exact",
    "exec_large_output",
    "signal_terminate",
    "signal_kill_after_ignored_term",
    "cancel_kills",
    "background_does_not_hold_exec",
    "concurrent_execs",
    "errors_are_statuses",
    "containers",
    "remove_container_kills_background",
    "remove_environment",
    "reap_in_process",
    "reap_after_plugin_killed",
    "sigterm_shutdown",
    "transports",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-k", default="", help="run only cases whose name contains this")
    parser.add_argument("--output-mib", type=int, default=200, help="size of the large-output exec")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="gpt-")  # short: unix socket paths are limited
    suite = Suite(work, args.output_mib)
    failed = []
    try:
        suite.start()
        for name in ORDER:
            if args.k and args.k not in name:
                continue
            t = time.monotonic()
            try:
                getattr(suite, f"test_{name}")()
                print(f"ok    {name} ({time.monotonic() - t:.2f}s)", flush=True)
            except Exception as e:  # noqa: BLE001
                failed.append(name)
                detail = str(e) if isinstance(e, Failure) else traceback.format_exc()
                print(f"FAIL  {name}: {detail}", flush=True)
                if suite.plugin is not None and suite.plugin.proc.poll() is not None and name != "sigterm_shutdown":
                    print(f"      the plugin exited; log:\n{suite.plugin.tail()}")
                    break
    finally:
        if suite.plugin is not None:
            suite.plugin.close()
        for note in suite.notes:
            print(f"note: {note}")
        if failed:
            print(f"plugin log: {suite.plugin.log_path if suite.plugin else '-'}")
        if args.keep or failed:
            print(f"work directory kept: {work}")
        else:
            subprocess.run(["rm", "-rf", work])
    print(f"{'FAILED: ' + ', '.join(failed) if failed else 'all passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
