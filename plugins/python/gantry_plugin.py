#!/usr/bin/env python3
"""python-host: a gantry backend plugin written against the protocol definition alone.

It speaks gantry.backend.v1 (proto/gantry/backend/v1/backend.proto) over gRPC and runs
jobs directly on this machine, one directory per environment:

    <root>/<environment_id>/workspace/   the job's workspace (gantry uploads it with CopyIn)
    <root>/<environment_id>/temp/        RUNNER_TEMP
    <root>/<environment_id>/meta.json    run id, job id and the process groups started

Stubs are not checked in: at startup the script compiles the .proto with grpc_tools.protoc
into a private temporary directory, imports the modules and removes the directory.

Run `gantry_plugin.py --help`, or see README.md next to this file.
"""

import argparse
import atexit
import errno
import fcntl
import functools
import importlib
import json
import logging
import os
import platform
import queue
import re
import secrets
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent import futures

PROTOCOL_VERSION = 1
PROTOCOL_REVISION = 1
BACKEND_NAME = "python-host"
COOKIE_KEY = "GANTRY_PLUGIN_COOKIE"
COOKIE_VALUE = "gantry-backend-plugin-v1"
NOT_LAUNCHED = (
    "this is a gantry backend plugin; gantry starts it (see docs/plugins.md), "
    "or pass --listen ADDRESS"
)

MAX_MESSAGE = 16 << 20  # the protocol's message limit, both directions
CHUNK = 1 << 20  # bulk data travels in chunks of at most 1 MiB
DRAIN_IDLE = 0.2  # seconds of silence, after an exec's main process ended, before we stop reading
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
ENV_ID = re.compile(r"^[0-9a-f]{32}$")
REMOVING = ".removing-"  # prefix of an environment directory being deleted
PRIMARY = "primary"

log = logging.getLogger(BACKEND_NAME)

# Filled in by load_stubs(): the generated message and service modules.
pb = None
pb_grpc = None
grpc = None


# ---------------------------------------------------------------------------------------
# Startup helpers


def die(message, code=1):
    print(f"{BACKEND_NAME}: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def default_proto_path():
    here = os.path.dirname(os.path.realpath(__file__))
    return os.path.normpath(
        os.path.join(here, "..", "..", "proto", "gantry", "backend", "v1", "backend.proto")
    )


def load_stubs(proto_path):
    """Compiles `proto_path` into a private temp dir, imports the stubs, removes the dir.

    The modules stay loaded after the directory is gone, so a plugin killed with SIGKILL
    leaves nothing behind. Returns (messages module, service module).
    """
    global pb, pb_grpc, grpc
    try:
        import grpc as grpc_module
        import grpc_tools
        from grpc_tools import protoc
    except ImportError as e:
        die(
            f"missing Python package ({e}); install them with "
            f"`pip install -r {os.path.join(os.path.dirname(os.path.realpath(__file__)), 'requirements.txt')}`"
        )
    proto_path = os.path.abspath(proto_path)
    if not os.path.isfile(proto_path):
        die(
            f"protocol definition {proto_path} not found; pass --proto PATH or set GANTRY_PROTO"
        )
    if not proto_path.endswith(".proto"):
        die(f"{proto_path} is not a .proto file")
    out = tempfile.mkdtemp(prefix="gantry-python-stubs-")
    atexit.register(shutil.rmtree, out, True)
    module = os.path.basename(proto_path)[: -len(".proto")]
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    try:
        rc = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{os.path.dirname(proto_path)}",
                f"-I{well_known}",
                f"--python_out={out}",
                f"--grpc_python_out={out}",
                proto_path,
            ]
        )
        if rc != 0:
            die(f"grpc_tools.protoc failed on {proto_path} (exit {rc}); see its message above")
        sys.path.insert(0, out)
        try:
            dont_write = sys.dont_write_bytecode
            sys.dont_write_bytecode = True
            messages = importlib.import_module(f"{module}_pb2")
            services = importlib.import_module(f"{module}_pb2_grpc")
        finally:
            sys.dont_write_bytecode = dont_write
            sys.path.remove(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if messages.DESCRIPTOR.package != "gantry.backend.v1" or not hasattr(
        services, "BackendServicer"
    ):
        die(f"{proto_path} does not define service gantry.backend.v1.Backend")
    pb, pb_grpc, grpc = messages, services, grpc_module
    return messages, services


def machine_arch():
    m = platform.machine().lower()
    return {
        "x86_64": "X64",
        "amd64": "X64",
        "aarch64": "ARM64",
        "arm64": "ARM64",
        "i386": "X86",
        "i686": "X86",
        "armv7l": "ARM",
    }.get(m, m.upper() or "X64")


def machine_os():
    return {"Linux": "Linux", "Darwin": "macOS"}.get(platform.system(), "Linux")


def read_boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


OS_NAME = machine_os()
ARCH = machine_arch()
BOOT_ID = read_boot_id()


# ---------------------------------------------------------------------------------------
# Errors: every handler failure becomes a gRPC status, never a crash.


class Fail(Exception):
    """A failure to report to gantry as a gRPC status with a user-facing message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message):
    return Fail(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message):
    return Fail(grpc.StatusCode.NOT_FOUND, message)


def os_failure(what, e):
    """Maps an OSError to a status whose message names the operation and the path."""
    code = {
        errno.ENOENT: grpc.StatusCode.NOT_FOUND,
        errno.EACCES: grpc.StatusCode.PERMISSION_DENIED,
        errno.EPERM: grpc.StatusCode.PERMISSION_DENIED,
        errno.ENOSPC: grpc.StatusCode.RESOURCE_EXHAUSTED,
        errno.EDQUOT: grpc.StatusCode.RESOURCE_EXHAUSTED,
        errno.EISDIR: grpc.StatusCode.FAILED_PRECONDITION,
        errno.ENOTDIR: grpc.StatusCode.FAILED_PRECONDITION,
        errno.EEXIST: grpc.StatusCode.FAILED_PRECONDITION,
        errno.EROFS: grpc.StatusCode.FAILED_PRECONDITION,
    }.get(e.errno, grpc.StatusCode.INTERNAL)
    where = f" {e.filename}" if e.filename else ""
    return Fail(code, f"{what}:{where}: {e.strerror or e}")


def _internal(name, e):
    log.error("%s failed unexpectedly", name, exc_info=True)
    return (
        grpc.StatusCode.INTERNAL,
        f"{BACKEND_NAME} {name}: internal error: {type(e).__name__}: {e}",
    )


class InFlight:
    """Counts running handlers, so shutdown waits for real work rather than idle connections
    (grpc's server.stop(grace) waits the whole grace while any client stays connected)."""

    def __init__(self):
        self.count = 0
        self.cond = threading.Condition()

    def enter(self):
        with self.cond:
            self.count += 1

    def leave(self):
        with self.cond:
            self.count -= 1
            self.cond.notify_all()

    def wait_idle(self, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: self.count == 0, timeout)


INFLIGHT = InFlight()


def unary(fn):
    """Wraps a handler returning one message (unary or client-streaming)."""
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(self, request, context):
        INFLIGHT.enter()
        try:
            try:
                return fn(self, request, context)
            except Fail as e:
                status = (e.code, e.message)
            except Exception as e:  # noqa: BLE001 - the contract: INTERNAL, never a crash
                status = _internal(name, e)
            context.abort(*status)
        finally:
            INFLIGHT.leave()

    return wrapper


def streaming(fn):
    """Wraps a handler that yields messages (server-streaming)."""
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(self, request, context):
        INFLIGHT.enter()
        try:
            try:
                yield from fn(self, request, context)
                return
            except Fail as e:
                status = (e.code, e.message)
            except Exception as e:  # noqa: BLE001
                status = _internal(name, e)
            context.abort(*status)
        finally:
            INFLIGHT.leave()

    return wrapper


# ---------------------------------------------------------------------------------------
# Process groups


def proc_starttime(pid):
    """The start time (clock ticks since boot) of `pid`, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def kill_group(record, sig, boot_id=None):
    """Sends `sig` to the process group `record` describes, if it is still ours.

    A record carries the group id and its leader's start time. Linux never reuses a
    number while a process group of that id exists, so the group is ours unless the
    machine rebooted or a different process now holds the leader's pid.
    """
    pgid = record.get("pgid")
    if not isinstance(pgid, int) or pgid <= 1:
        return False
    if boot_id and BOOT_ID and boot_id != BOOT_ID:
        return False
    start = record.get("start")
    if start is not None:
        now = proc_starttime(pgid)
        if now is not None and now != start:
            return False
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        log.warning("no permission to signal process group %d", pgid)
        return False


def live_members(pgids):
    """The pgids among `pgids` that still have a member that is not a zombie."""
    pgids = set(pgids)
    alive = set()
    for pgid in pgids:
        try:
            os.killpg(pgid, 0)
            alive.add(pgid)
        except (ProcessLookupError, PermissionError):
            pass
    if not alive or not os.path.isdir("/proc/self"):
        return alive
    # killpg(0) also succeeds for zombies; look closer.
    really = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) in alive and fields[0] != b"Z":
            really.add(int(fields[2]))
    return really


def kill_groups(records, boot_id=None, wait=2.0):
    """SIGKILLs every recorded group and waits (bounded) until none has a live member."""
    killed = [r["pgid"] for r in records if kill_group(r, signal.SIGKILL, boot_id)]
    deadline = time.monotonic() + wait
    while killed and time.monotonic() < deadline:
        if not live_members(killed):
            break
        time.sleep(0.02)
    return len(killed)


def set_pipe_size(fd):
    """Grows a pipe to 1 MiB (Linux) so a fast writer fills whole chunks between reads."""
    setter = getattr(fcntl, "F_SETPIPE_SZ", 1031)
    for size in (CHUNK, 256 << 10):
        try:
            fcntl.fcntl(fd, setter, size)
            return
        except OSError:
            continue


# ---------------------------------------------------------------------------------------
# Files


def absolute_path(path, what):
    """`path` if it is a usable absolute path; INVALID_ARGUMENT otherwise."""
    if not path or not os.path.isabs(path):
        raise invalid(f"{what}: path {path!r} is not an absolute path")
    if "\0" in path:
        raise invalid(f"{what}: path {path!r} contains a NUL byte")
    return path


def within(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def rmtree(path):
    """Removes `path`, including read-only directories; retries once files stop appearing."""
    for attempt in range(4):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == 3:
                raise
        try:
            os.chmod(path, 0o700)
        except OSError:
            pass
        for dirpath, dirnames, _ in os.walk(path):
            for d in dirnames:
                p = os.path.join(dirpath, d)
                try:
                    if not os.path.islink(p):
                        os.chmod(p, 0o700)
                except OSError:
                    pass
        time.sleep(0.05 * attempt)


def read_meta(env_dir):
    """meta.json of an environment directory: a dict, None when missing, or an OSError/ValueError."""
    try:
        with open(os.path.join(env_dir, "meta.json")) as f:
            meta = json.load(f)
        if not isinstance(meta, dict):
            raise ValueError("meta.json is not an object")
        return meta
    except FileNotFoundError:
        return None


def write_json_atomic(path, data):
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def plain_parts(name):
    """The components of an archive member name, or None when it is absolute or has `..`."""
    if name.startswith("/") or name.startswith("\\"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return parts


class RequestReader:
    """A read-only file object over the chunk messages of a CopyIn call (after the header)."""

    def __init__(self, requests):
        self.requests = requests
        self.buf = memoryview(b"")
        self.eof = False
        self.total = 0

    def _next(self):
        try:
            msg = next(self.requests)
        except StopIteration:
            self.eof = True
            return False
        except grpc.RpcError:
            raise Fail(grpc.StatusCode.CANCELLED, "CopyIn: the client cancelled the upload")
        if msg.WhichOneof("message") != "chunk":
            raise invalid(
                "CopyIn: only the first message carries the header; every later one must be a chunk"
            )
        self.buf = memoryview(msg.chunk)
        self.total += len(msg.chunk)
        return True

    def read(self, n=-1):
        while not len(self.buf):
            if self.eof or not self._next():
                return b""
        if n is None or n < 0 or n >= len(self.buf):
            out, self.buf = bytes(self.buf), memoryview(b"")
            return out
        out = bytes(self.buf[:n])
        self.buf = self.buf[n:]
        return out

    def drain(self):
        while not self.eof and self._next():
            pass


def extract_tar(reader, dest, what):
    """Unpacks the tar stream `reader` yields into the existing directory `dest`.

    Streams member by member (tarfile mode "r|*"): the archive is never held whole.
    Refuses members that would land outside `dest` (absolute names, `..`, paths through
    a symlink leading out) and links pointing out of it.
    """
    dest = os.path.realpath(dest)
    dirs = []  # (path, mode, mtime): applied at the end, deepest first
    links = []  # symlinks created: checked again once the tree is complete
    try:
        tf = tarfile.open(fileobj=reader, mode="r|*")
    except tarfile.ReadError as e:
        if reader.total == 0 or str(e) == "empty file":
            return  # an empty upload or an archive without entries: nothing to unpack
        raise invalid(f"{what}: the upload is not a tar archive: {e}")
    try:
        with tf:
            for member in tf:
                extract_member(tf, member, dest, dirs, links, what)
    except tarfile.TarError as e:
        raise invalid(f"{what}: broken tar archive: {e}")
    for path in links:
        real = os.path.realpath(path)
        if not within(real, dest):
            pointee = os.readlink(path)
            os.unlink(path)
            raise invalid(
                f"{what}: symbolic link {os.path.relpath(path, dest)!r} -> {pointee!r} "
                f"resolves outside {dest}; refused"
            )
    for path, mode, mtime in reversed(dirs):
        try:
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime))
        except OSError:
            pass


def extract_member(tf, m, dest, dirs, links, what):
    def refuse(why):
        raise invalid(f"{what}: archive entry {m.name!r} {why}; refused")

    parts = plain_parts(m.name)
    if parts is None:
        refuse(f"would land outside {dest} (absolute name or `..`)")
    if not parts:
        return  # the archive's root entry (`./`)
    parent = os.path.realpath(os.path.join(dest, *parts[:-1]))
    if not within(parent, dest):
        refuse(f"would land outside {dest} through a symbolic link")
    os.makedirs(parent, exist_ok=True)
    target = os.path.join(parent, parts[-1])
    mode = m.mode & 0o1777  # permission bits and sticky; never setuid/setgid
    mtime = m.mtime

    def clear(keep_dir=False):
        if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
            os.unlink(target)
        elif os.path.isdir(target) and not keep_dir:
            refuse(f"would replace the directory {target}")

    if m.isdir():
        clear(keep_dir=True)
        if not os.path.isdir(target):
            os.mkdir(target, 0o700)
        os.chmod(target, 0o700 | mode)  # writable while we fill it
        dirs.append((target, mode, mtime))
    elif m.isreg():
        clear()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            src = tf.extractfile(m)
            shutil.copyfileobj(src, out, 64 << 10)
            os.fchmod(out.fileno(), mode)
            out.flush()
            os.utime(out.fileno(), (mtime, mtime))
    elif m.issym():
        link = m.linkname
        if link.startswith("/"):
            refuse(f"is a symbolic link to the absolute path {link!r}")
        lexical = os.path.normpath(os.path.join(parent, link))
        if not within(lexical, dest) or not within(os.path.realpath(lexical), dest):
            refuse(f"is a symbolic link to {link!r}, outside {dest}")
        clear()
        os.symlink(link, target)
        links.append(target)
        try:
            os.utime(target, (mtime, mtime), follow_symlinks=False)
        except (OSError, NotImplementedError):
            pass
    elif m.islnk():
        lparts = plain_parts(m.linkname)
        if not lparts:
            refuse(f"is a hard link to {m.linkname!r}, outside {dest}")
        source = os.path.realpath(os.path.join(dest, *lparts))
        if not within(source, dest):
            refuse(f"is a hard link to {m.linkname!r}, outside {dest}")
        if not os.path.isfile(source):
            refuse(f"is a hard link to {m.linkname!r}, which the archive did not create")
        clear()
        os.link(source, target)
    elif m.isfifo():
        clear()
        os.mkfifo(target, mode)
    else:
        log.warning("%s: skipping %s (device files are not supported)", what, m.name)


class QueueWriter:
    """The write end a tarfile fills from a thread; hands out chunks of exactly CHUNK bytes."""

    def __init__(self, q, stop):
        self.q = q
        self.stop = stop
        self.buf = bytearray()

    def put(self, item):
        while True:
            if self.stop.is_set():
                raise _Stopped()
            try:
                self.q.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def write(self, data):
        self.buf += data
        while len(self.buf) >= CHUNK:
            self.put(bytes(self.buf[:CHUNK]))
            del self.buf[:CHUNK]
        return len(data)

    def flush_all(self):
        if self.buf:
            self.put(bytes(self.buf))
            self.buf = bytearray()


class _Stopped(Exception):
    pass


_DONE = object()


# ---------------------------------------------------------------------------------------
# State


class Env:
    """One environment: a directory with workspace, temp and meta.json."""

    def __init__(self, env_id, path, meta):
        self.id = env_id
        self.dir = path
        self.workspace = os.path.join(path, "workspace")
        self.temp = os.path.join(path, "temp")
        self.meta = meta
        self.lock = threading.Lock()
        self.removed = False

    @property
    def container_id(self):
        return f"{self.id}/{PRIMARY}"

    def save(self):
        """Writes meta.json; the caller holds self.lock."""
        write_json_atomic(os.path.join(self.dir, "meta.json"), self.meta)

    def groups(self):
        with self.lock:
            return [dict(g) for g in self.meta.get("process_groups", [])]

    def exec_ended(self, pgid):
        """Marks the exec's group finished; forgets it when no member is left (no
        background process to kill later)."""
        try:
            os.killpg(pgid, 0)
            gone = False
        except ProcessLookupError:
            gone = True
        except PermissionError:
            gone = False
        with self.lock:
            if self.removed:
                return
            groups = self.meta.get("process_groups", [])
            if gone:
                groups[:] = [g for g in groups if g.get("pgid") != pgid]
            for g in groups:
                if g.get("pgid") == pgid:
                    g["running"] = False
            try:
                self.save()
            except OSError as e:
                log.warning("environment %s: cannot update meta.json: %s", self.id, e)


class Exec:
    """One running exec, for Signal and cancellation."""

    def __init__(self, exec_id):
        self.id = exec_id
        self.lock = threading.Lock()
        self.group = None  # {"pgid": ..., "start": ...}
        self.finished = False

    def signal(self, sig):
        with self.lock:
            if self.finished or self.group is None:
                return False
            group = dict(self.group)
        return kill_group(group, sig)

    def finish(self):
        with self.lock:
            self.finished = True


class State:
    def __init__(self, root):
        self.root = root
        self.lock = threading.RLock()
        self.envs = {}
        self.execs = {}
        self.used_exec_ids = set()
        self.removing = set()  # directories being deleted by some thread right now
        self.closing = False  # set on shutdown: no new environments

    # Environments -----------------------------------------------------------------------

    def create(self, run_id, job_id, label, timeout):
        with self.lock:
            if self.closing:
                raise Fail(grpc.StatusCode.UNAVAILABLE, f"CreateEnvironment: {BACKEND_NAME} is shutting down")
            env_id = secrets.token_hex(16)
            path = os.path.join(self.root, env_id)
            os.mkdir(path, 0o700)
            meta = {
                "format": 1,
                "backend": BACKEND_NAME,
                "run_id": run_id,
                "job_id": job_id,
                "label": label,
                "job_timeout_seconds": timeout,
                "created": time.time(),
                "plugin_pid": os.getpid(),
                "boot_id": BOOT_ID,
                "process_groups": [],
            }
            env = Env(env_id, path, meta)
            with env.lock:
                env.save()
            os.mkdir(env.workspace, 0o755)
            os.mkdir(env.temp, 0o700)
            self.envs[env_id] = env
            return env

    def get(self, env_id):
        """The live environment `env_id`, also one a previous plugin process created."""
        if not isinstance(env_id, str) or not ENV_ID.match(env_id):
            return None
        with self.lock:
            env = self.envs.get(env_id)
            if env is not None:
                return env
            path = os.path.join(self.root, env_id)
            try:
                meta = read_meta(path)
            except (OSError, ValueError):
                return None
            if meta is None or not os.path.isdir(os.path.join(path, "workspace")):
                return None
            env = Env(env_id, path, meta)
            self.envs[env_id] = env
            return env

    def detach(self, env_id):
        """Takes an environment out of service: no new exec starts in it and its directory
        moves aside. Returns (moved path, meta) or None when there is no such environment."""
        with self.lock:
            env = self.envs.pop(env_id, None)
            path = os.path.join(self.root, env_id)
            if env is not None:
                with env.lock:
                    env.removed = True
                    meta = dict(env.meta)
            else:
                try:
                    meta = read_meta(path)
                except (OSError, ValueError):
                    meta = {}
            if not os.path.isdir(path):
                return None
            moved = os.path.join(self.root, f"{REMOVING}{env_id}-{secrets.token_hex(4)}")
            os.rename(path, moved)
            self.removing.add(moved)
            return moved, meta or {}

    def destroy(self, moved, meta):
        """Kills what a detached environment started and deletes its directory."""
        try:
            killed = kill_groups(meta.get("process_groups", []), meta.get("boot_id"))
            rmtree(moved)
            return killed
        finally:
            with self.lock:
                self.removing.discard(moved)

    def remove(self, env_id):
        detached = self.detach(env_id)
        if detached is None:
            return None
        return self.destroy(*detached)

    def remove_all(self):
        with self.lock:
            self.closing = True
            ids = list(self.envs)
        for env_id in ids:
            try:
                self.remove(env_id)
                log.info("removed environment %s", env_id)
            except Exception as e:  # noqa: BLE001
                log.error("cannot remove environment %s: %s", env_id, e)

    # Containers -------------------------------------------------------------------------

    def container(self, container_id, what):
        if not container_id:
            raise invalid(f"{what}: container_id is empty")
        env_id, sep, name = container_id.partition("/")
        if not sep or name != PRIMARY:
            raise not_found(
                f"{what}: container {container_id!r} not found: {BACKEND_NAME} runs no "
                f"containers, only each environment's primary (<environment_id>/{PRIMARY})"
            )
        env = self.get(env_id)
        if env is None:
            raise not_found(
                f"{what}: container {container_id!r} not found: environment {env_id!r} "
                f"does not exist (removed, reaped, or never created)"
            )
        return env

    # Execs ------------------------------------------------------------------------------

    def claim_exec(self, exec_id):
        if not exec_id:
            return Exec("")  # anonymous: works, but cannot be signalled
        with self.lock:
            if exec_id in self.used_exec_ids:
                raise invalid(
                    f"Exec: exec id {exec_id!r} was already used; gantry assigns a new one per exec"
                )
            self.used_exec_ids.add(exec_id)
            ex = Exec(exec_id)
            self.execs[exec_id] = ex
            return ex

    def release_exec(self, ex):
        ex.finish()
        with self.lock:
            self.execs.pop(ex.id, None)


# ---------------------------------------------------------------------------------------
# The service


def label_error(label):
    spec = label.label or "(unnamed)"
    if label.target:
        return (
            f"runs-on label `{spec}`: {BACKEND_NAME} runs jobs directly on the plugin's "
            f"machine and takes no target, but the label names `{label.target}`; "
            f"remove the target"
        )
    unknown = sorted(k for k in label.options if k != "shell")
    if unknown:
        return (
            f"runs-on label `{spec}`: unknown option(s) {', '.join(unknown)}; "
            f"{BACKEND_NAME} accepts only `shell`"
        )
    return ""


def inherited_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("GANTRY_PLUGIN")}


class Servicer:
    """The gantry.backend.v1.Backend handlers (mixed into the generated servicer)."""

    def __init__(self, state):
        self.state = state

    # Backend ----------------------------------------------------------------------------

    @unary
    def GetCapabilities(self, request, context):
        log.info(
            "client speaks protocol %d revision %d (gantry %s)",
            request.protocol_version,
            request.protocol_revision,
            request.client_version or "unknown",
        )
        return pb.Capabilities(
            protocol_version=PROTOCOL_VERSION,
            protocol_revision=PROTOCOL_REVISION,
            backend_name=BACKEND_NAME,
            job_container=False,
            services=False,
            step_containers=False,
            own_networking=False,
            os=OS_NAME,
            arch=ARCH,
            paths=pb.PathConventions(style="posix", tool_cache=""),
            runner=pb.RunnerContext(name="", environment="self-hosted"),
            workspace=pb.UPLOAD,
        )

    @unary
    def ValidateLabel(self, request, context):
        return pb.ValidateLabelResponse(error=label_error(request.label))

    @unary
    def Reap(self, request, context):
        live = set(request.live_run_ids)
        removed, failed, victims = [], [], []
        with self.state.lock:
            try:
                entries = sorted(os.listdir(self.state.root))
            except OSError as e:
                raise os_failure("Reap: listing the plugin root", e)
            for name in entries:
                path = os.path.join(self.state.root, name)
                if not os.path.isdir(path) or os.path.islink(path):
                    continue
                if name.startswith(REMOVING):
                    if path in self.state.removing:
                        continue
                    try:
                        meta = read_meta(path) or {}
                    except (OSError, ValueError):
                        meta = {}
                    self.state.removing.add(path)
                    victims.append((f"interrupted removal {name}", path, meta))
                    continue
                if not ENV_ID.match(name):
                    continue
                try:
                    meta = read_meta(path)
                except (OSError, ValueError) as e:
                    meta = {"_unreadable": str(e)}
                if meta is not None and meta.get("run_id") in live:
                    continue
                try:
                    detached = self.state.detach(name)
                except OSError as e:
                    failed.append(f"environment {name}: cannot move it aside: {e.strerror or e}")
                    continue
                if detached is None:
                    continue
                moved, meta2 = detached
                if meta is None:
                    what = f"environment {name} (no meta.json: an interrupted CreateEnvironment)"
                elif "_unreadable" in meta:
                    what = f"environment {name} (unreadable meta.json: {meta['_unreadable']}; its processes are unknown)"
                else:
                    what = (
                        f"environment {name} of run {meta.get('run_id')!r} "
                        f"job {meta.get('job_id')!r}"
                    )
                victims.append((what, moved, meta2))
        for what, path, meta in victims:
            try:
                killed = self.state.destroy(path, meta)
                removed.append(f"{what}: killed {killed} process group(s), deleted its directory")
            except OSError as e:
                failed.append(f"{what}: {e.strerror or e} ({e.filename or path})")
        for line in removed:
            log.info("reaped %s", line)
        for line in failed:
            log.warning("reap failed: %s", line)
        return pb.ReapResponse(removed=removed, failed=failed)

    # Environments -----------------------------------------------------------------------

    @unary
    def CreateEnvironment(self, request, context):
        if not request.run_id:
            raise invalid("CreateEnvironment: run_id is empty; Reap needs it to find the environment later")
        error = label_error(request.label)
        if error:
            raise invalid(f"CreateEnvironment: {error}")
        try:
            env = self.state.create(
                request.run_id, request.job_id, request.label.label, request.job_timeout_seconds
            )
        except OSError as e:
            raise os_failure("CreateEnvironment: creating the environment directory", e)
        log.info("created environment %s for run %s job %s", env.id, request.run_id, request.job_id)
        return pb.CreateEnvironmentResponse(
            environment_id=env.id,
            runner=pb.RunnerInfo(
                name="",
                os=OS_NAME,
                arch=ARCH,
                temp=env.temp,
                tool_cache="",
                environment="self-hosted",
            ),
        )

    @unary
    def Primary(self, request, context):
        env = self.state.get(request.environment_id)
        if env is None:
            raise not_found(
                f"Primary: environment {request.environment_id!r} does not exist "
                f"(removed, reaped, or never created)"
            )
        return pb.ContainerInfo(
            container_id=env.container_id,
            workspace=env.workspace,
            temp=env.temp,
            inherited_env=inherited_env(),
        )

    @unary
    def RemoveEnvironment(self, request, context):
        env_id = request.environment_id
        if not ENV_ID.match(env_id or ""):
            return pb.RemoveEnvironmentResponse()  # unknown: nothing to do
        try:
            killed = self.state.remove(env_id)
        except OSError as e:
            raise os_failure(f"RemoveEnvironment {env_id}", e)
        if killed is not None:
            log.info("removed environment %s (killed %d process group(s))", env_id, killed)
        return pb.RemoveEnvironmentResponse()

    # Containers -------------------------------------------------------------------------

    @unary
    def CreateContainer(self, request, context):
        spec = request.spec
        raise Fail(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"CreateContainer {spec.name or '(unnamed)'} ({spec.image or 'no image'}): "
            f"{BACKEND_NAME} runs no containers; it runs jobs directly on its machine",
        )

    @unary
    def StartContainer(self, request, context):
        self.state.container(request.container_id, "StartContainer")
        return pb.StartContainerResponse()

    @unary
    def Health(self, request, context):
        self.state.container(request.container_id, "Health")
        return pb.HealthResponse(state=pb.RUNNING)

    @unary
    def RemoveContainer(self, request, context):
        env_id, _, name = (request.container_id or "").partition("/")
        env = self.state.get(env_id) if name == PRIMARY else None
        if env is not None:
            killed = kill_groups(env.groups(), env.meta.get("boot_id"))
            log.info("removed container %s (killed %d process group(s))", request.container_id, killed)
        return pb.RemoveContainerResponse()

    # Exec -------------------------------------------------------------------------------

    @streaming
    def Exec(self, request, context):
        argv = list(request.argv)
        if not argv:
            raise invalid("Exec: argv is empty: nothing to run")
        env = self.state.container(request.container_id, "Exec")
        cwd = request.working_dir or env.workspace
        if not os.path.isabs(cwd):
            raise invalid(f"Exec: working_dir {cwd!r} is not an absolute path")
        absolute_path(cwd, "Exec: working_dir")
        if request.user and request.user not in (str(os.getuid()), _user_name()):
            raise Fail(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Exec: {BACKEND_NAME} runs every process as {_user_name()} and cannot switch "
                f"to user {request.user!r}",
            )
        if not os.path.isdir(cwd):
            raise Fail(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Exec: working directory {cwd} does not exist in {env.container_id}",
            )
        variables = dict(request.env)
        variables.setdefault("PATH", DEFAULT_PATH)
        ex = self.state.claim_exec(request.exec_id)
        proc = None
        try:
            with env.lock:
                if env.removed:
                    raise not_found(f"Exec: environment {env.id} was removed")
                try:
                    proc = subprocess.Popen(
                        argv,
                        env=variables,
                        cwd=cwd,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        start_new_session=True,
                        close_fds=True,
                    )
                except ValueError as e:  # a NUL byte or `=` in a name; never echo values
                    raise invalid(f"Exec: the request cannot be passed to a process: {e}")
                except OSError as e:
                    spawn_error = e
                else:
                    spawn_error = None
                    group = {
                        "pgid": proc.pid,
                        "start": proc_starttime(proc.pid),
                        "exec_id": ex.id,
                        "running": True,
                        "started_at": time.time(),
                    }
                    env.meta.setdefault("process_groups", []).append(group)
                    try:
                        env.save()
                    except OSError as e:
                        log.warning("environment %s: cannot update meta.json: %s", env.id, e)
                    with ex.lock:
                        ex.group = {"pgid": group["pgid"], "start": group["start"]}
            if spawn_error is not None:
                # As a shell would: 127 for a missing program, 126 for one it cannot run.
                code = 127 if isinstance(spawn_error, FileNotFoundError) else 126
                log.info("exec %s: cannot start %r: %s", ex.id, argv[0], spawn_error.strerror)
                yield pb.ExecEvent(started=pb.Started())
                message = f"{BACKEND_NAME}: cannot run {argv[0]!r}: {spawn_error.strerror}\n"
                yield pb.ExecEvent(
                    output=pb.Output(stream=pb.STDERR, data=message.encode(errors="replace"))
                )
                ex.finish()
                yield pb.ExecEvent(exit=pb.Exit(code=code))
                return
            log.info("exec %s in %s: %s (pgid %d)", ex.id or "-", env.container_id, argv[0], proc.pid)
            context.add_callback(lambda: ex.signal(signal.SIGKILL))
            yield pb.ExecEvent(started=pb.Started())
            yield from pump_output(proc, ex, context)
            while True:
                try:
                    rc = proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    if not context.is_active():
                        ex.signal(signal.SIGKILL)
            ex.finish()
            log.info("exec %s ended: %s", ex.id or "-", f"code {rc}" if rc >= 0 else f"signal {-rc}")
            if rc >= 0:
                yield pb.ExecEvent(exit=pb.Exit(code=rc))
            else:
                yield pb.ExecEvent(exit=pb.Exit(signal=-rc))
        finally:
            # Reached normally, on error, or when gantry dropped the stream (GeneratorExit).
            if proc is not None:
                if proc.returncode is None:
                    ex.signal(signal.SIGKILL)
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        log.warning("exec %s: process %d survives SIGKILL", ex.id, proc.pid)
                for f in (proc.stdout, proc.stderr):
                    try:
                        f.close()
                    except OSError:
                        pass
                env.exec_ended(proc.pid)
            self.state.release_exec(ex)

    @unary
    def Signal(self, request, context):
        if request.level == pb.TERMINATE:
            sig = signal.SIGTERM
        elif request.level == pb.KILL:
            sig = signal.SIGKILL
        else:
            raise invalid(
                f"Signal: stop level {request.level} is not TERMINATE (1) or KILL (2)"
            )
        with self.state.lock:
            ex = self.state.execs.get(request.exec_id)
        if ex is not None and ex.signal(sig):
            log.info("exec %s: sent %s to its process group", request.exec_id, sig.name)
        return pb.SignalResponse()

    # Files ------------------------------------------------------------------------------

    @unary
    def CopyIn(self, request_iterator, context):
        try:
            first = next(request_iterator)
        except StopIteration:
            raise invalid("CopyIn: the stream is empty; the first CopyIn message must be the header")
        if first.WhichOneof("message") != "header":
            raise invalid("CopyIn: the first CopyIn message must be the header")
        header = first.header
        env = self.state.container(header.container_id, "CopyIn")
        dest = header.dest
        what = f"CopyIn to {dest or '(empty)'}"
        absolute_path(dest, "CopyIn: dest")
        dest = os.path.normpath(dest)
        real = os.path.realpath(dest)
        roots = [os.path.realpath(env.workspace), os.path.realpath(env.temp)]
        if not any(within(real, r) for r in roots):
            raise invalid(
                f"{what}: dest must be inside the environment's workspace ({env.workspace}) "
                f"or temp directory ({env.temp})"
            )
        reader = RequestReader(request_iterator)
        try:
            os.makedirs(real, exist_ok=True)
            extract_tar(reader, real, what)
        except OSError as e:
            raise os_failure(what, e)
        reader.drain()  # trailing padding after the end-of-archive blocks
        log.info("%s: unpacked %d bytes of archive", what, reader.total)
        return pb.CopyInResponse()

    @streaming
    def CopyOut(self, request, context):
        path = absolute_path(request.path, "CopyOut")
        env = self.state.container(request.container_id, "CopyOut")
        path = os.path.normpath(path)
        try:
            os.lstat(path)
        except FileNotFoundError:
            raise not_found(f"CopyOut: {path} does not exist in {env.container_id}")
        except OSError as e:
            raise os_failure("CopyOut", e)
        arcname = os.path.basename(path) or "."
        q = queue.Queue(maxsize=4)
        stop = threading.Event()
        context.add_callback(stop.set)

        def produce():
            writer = QueueWriter(q, stop)
            try:
                with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                    tf.add(path, arcname=arcname, recursive=True)
                writer.flush_all()
                writer.put(_DONE)
            except _Stopped:
                pass
            except BaseException as e:  # noqa: BLE001 - reported to the consumer
                try:
                    writer.put(e)
                except _Stopped:
                    pass

        producer = threading.Thread(target=produce, name="copy-out", daemon=True)
        producer.start()
        try:
            while True:
                try:
                    item = q.get(timeout=1.0)
                except queue.Empty:
                    if not context.is_active():
                        return
                    continue
                if item is _DONE:
                    return
                if isinstance(item, OSError):
                    raise os_failure(f"CopyOut {path}", item)
                if isinstance(item, BaseException):
                    raise item
                yield pb.CopyOutChunk(chunk=item)
        finally:
            stop.set()

    @unary
    def WriteFiles(self, request, context):
        self.state.container(request.container_id, "WriteFiles")
        for f in request.files:
            absolute_path(f.path, "WriteFiles")
        for f in request.files:
            mode = (f.mode & 0o7777) or 0o644
            try:
                os.makedirs(os.path.dirname(f.path), exist_ok=True)
                fd = os.open(f.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
                with os.fdopen(fd, "wb") as out:
                    out.write(f.contents)
                    os.fchmod(out.fileno(), mode)
            except OSError as e:
                raise os_failure("WriteFiles", e)
        return pb.WriteFilesResponse()

    @unary
    def ReadEnvFile(self, request, context):
        self.state.container(request.container_id, "ReadEnvFile")
        for p in request.paths:
            absolute_path(p, "ReadEnvFile")
        budget = MAX_MESSAGE - (64 << 10)
        files = []
        for p in request.paths:
            try:
                with open(p, "rb") as f:
                    data = f.read(budget + 1)
            except (FileNotFoundError, NotADirectoryError):
                files.append(pb.FileContents(exists=False))
                continue
            except OSError as e:
                raise os_failure("ReadEnvFile", e)
            budget -= len(data)
            if budget < 0:
                raise Fail(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"ReadEnvFile: {p} (with the files before it) exceeds the 16 MiB message limit",
                )
            files.append(pb.FileContents(exists=True, contents=data))
        return pb.ReadEnvFileResponse(files=files)


def _user_name():
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


def pump_output(proc, ex, context):
    """Yields Output events as the process writes, until both pipes close — or, once the
    main process has exited, until output stays silent for DRAIN_IDLE (a background child
    may hold the pipes open for the rest of the job)."""
    sel = selectors.DefaultSelector()
    streams = {proc.stdout.fileno(): pb.STDOUT, proc.stderr.fileno(): pb.STDERR}
    for fd, stream in streams.items():
        set_pipe_size(fd)
        sel.register(fd, selectors.EVENT_READ, stream)
    pidfd = None
    try:
        pidfd = os.pidfd_open(proc.pid)
        sel.register(pidfd, selectors.EVENT_READ, None)
    except (AttributeError, OSError):
        pidfd = None
    exited = False
    try:
        while streams:
            if exited:
                timeout = DRAIN_IDLE
            else:
                timeout = 1.0 if pidfd is not None else 0.1
            events = sel.select(timeout)
            if not events:
                if exited:
                    return
                if not context.is_active():
                    ex.signal(signal.SIGKILL)
                if pidfd is None and proc.poll() is not None:
                    exited = True
                continue
            for key, _ in events:
                if key.data is None:
                    sel.unregister(key.fd)
                    exited = True
                    continue
                data = os.read(key.fd, CHUNK)
                if not data:
                    sel.unregister(key.fd)
                    del streams[key.fd]
                    continue
                yield pb.ExecEvent(output=pb.Output(stream=key.data, data=data))
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)


# ---------------------------------------------------------------------------------------
# Main


def parse_listen(address, insecure):
    """Turns `unix:///path.sock` or `tcp://host:port` into a gRPC bind address."""
    if address.startswith("unix://"):
        path = address[len("unix://") :]
        if not path.startswith("/"):
            die(f"--listen {address}: the socket path must be absolute (unix:///path.sock)", 2)
        return "unix", path
    if address.startswith("tcp://"):
        if not insecure:
            die(
                f"--listen {address}: {BACKEND_NAME} has no TLS, so a TCP listener is "
                f"plaintext and unauthenticated; pass --insecure as well to accept that "
                f"(or use unix:///path.sock)",
                2,
            )
        hostport = address[len("tcp://") :]
        if ":" not in hostport:
            die(f"--listen {address}: give a port (tcp://127.0.0.1:PORT)", 2)
        return "tcp", hostport
    die(f"--listen {address}: expected unix:///path.sock or tcp://HOST:PORT", 2)


def prepare_socket(path):
    if len(path.encode()) > 107:
        die(f"socket path {path} is longer than the 107 bytes a unix socket allows")
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            die(f"{path} exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            die(f"{path} is in use by a running server")
        except OSError:
            os.unlink(path)  # stale socket from a dead process
        finally:
            probe.close()
    os.makedirs(os.path.dirname(path), exist_ok=True)


def prepare_root(root):
    root = os.path.abspath(root)
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        st = os.lstat(root)
    except OSError as e:
        die(f"cannot create the plugin root {root}: {e.strerror}")
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        die(f"plugin root {root} is not a directory (a symbolic link?); pass --root DIR")
    if st.st_uid != os.getuid():
        die(f"plugin root {root} belongs to uid {st.st_uid}, not to us; pass --root DIR")
    return os.path.realpath(root)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="gantry_plugin.py",
        description=f"{BACKEND_NAME}: a gantry backend plugin running jobs on this machine.",
    )
    parser.add_argument("--listen", metavar="ADDRESS", help="unix:///path.sock or tcp://HOST:PORT")
    parser.add_argument("--insecure", action="store_true", help="allow a plaintext tcp:// listener")
    parser.add_argument(
        "--proto",
        metavar="PATH",
        default=os.environ.get("GANTRY_PROTO") or default_proto_path(),
        help="backend.proto to compile (default: $GANTRY_PROTO or the repository's copy)",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        default=os.environ.get("GANTRY_PLUGIN_ROOT") or f"/tmp/gantry-python-plugin-{os.getuid()}",
        help="where environments live (default: $GANTRY_PLUGIN_ROOT or /tmp/gantry-python-plugin-UID)",
    )
    parser.add_argument("--workers", type=int, default=16, help="RPC worker threads (default 16)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, args.log_level.upper()),
        format=f"%(asctime)s {BACKEND_NAME}[%(process)d] %(levelname)s %(message)s",
    )

    # Decide the transport before anything slow.
    cleanup_paths = []
    launched = False
    if args.listen:
        kind, where = parse_listen(args.listen, args.insecure)
    else:
        cookie = os.environ.get(COOKIE_KEY)
        if cookie is None:
            print(NOT_LAUNCHED, file=sys.stderr, flush=True)
            return 1
        if cookie != COOKIE_VALUE:
            die(f"{COOKIE_KEY} is not {COOKIE_VALUE!r}: this plugin speaks gantry backend protocol v1")
        launched = True
        sock_dir = os.environ.get("GANTRY_PLUGIN_SOCKET_DIR")
        if not sock_dir:
            sock_dir = tempfile.mkdtemp(prefix="gantry-python-plugin-")
            cleanup_paths.append(sock_dir)
        kind, where = "unix", os.path.join(os.path.realpath(sock_dir), f"python-{os.getpid()}.sock")
    if kind == "unix":
        prepare_socket(where)
        bind = f"unix://{where}"
        cleanup_paths.insert(0, where)
    else:
        bind = where

    load_stubs(args.proto)
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    root = prepare_root(args.root)
    state = State(root)
    servicer_class = type("BackendServicer", (Servicer, pb_grpc.BackendServicer), {})
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max(4, args.workers), thread_name_prefix="rpc"),
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
        ],
    )
    pb_grpc.add_BackendServicer_to_server(servicer_class(state), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        port = server.add_insecure_port(bind)
    except RuntimeError as e:
        die(f"cannot listen on {bind}: {e}")
    if kind == "tcp" and not port:
        die(f"cannot listen on {bind}")
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("gantry.backend.v1.Backend", health_pb2.HealthCheckResponse.SERVING)
    if kind == "tcp":
        host = where.rsplit(":", 1)[0]
        log.info("listening on tcp://%s:%d (plaintext)", host, port)
    else:
        log.info("listening on unix://%s", where)
    log.info("environments live under %s", root)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if launched:
        sys.stdout.write(f"{PROTOCOL_VERSION}|{PROTOCOL_REVISION}|unix|{where}|grpc\n")
        sys.stdout.flush()
    parent = os.getppid()
    while not stop.wait(1.0):
        if launched and os.getppid() != parent:
            log.warning("gantry (pid %d) is gone; shutting down", parent)
            break

    log.info("shutting down")
    health_servicer.enter_graceful_shutdown()
    state.remove_all()
    # Graceful within 2s: finish running calls (their processes are dead by now), then stop.
    deadline = time.monotonic() + 2.0
    INFLIGHT.wait_idle(2.0)
    server.stop(grace=min(0.1, max(0.0, deadline - time.monotonic()))).wait()
    for p in cleanup_paths:
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
