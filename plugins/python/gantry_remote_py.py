#!/usr/bin/env python3
"""gantry remote adapter (protocol v1) in plain Python: a directory is the remote.

The whole protocol in one stdlib file, to copy when writing an adapter for your own
remote. gantry runs it once per command:

    gantry_remote_py.py --capabilities          -> prints capabilities (no stdin)
    gantry_remote_py.py push.prepare < req.json -> prints one JSON response

Root directory: $GANTRY_REMOTE_PY_ROOT (set it in gantry.toml: [remotes.NAME].env).
With GANTRY_REMOTE_PY_LOGIN=required, push and pull need a session first: `gantry remote
login NAME` (auth.login) opens one for an hour under ROOT/sessions, `whoami` shows it, and
without one the adapter answers auth_required with the command that fixes it. With
GANTRY_REMOTE_PY_LOGIN=device, login is a device-code flow: the first `login` returns a
code and where to enter it (here: create the file ROOT/device/CODE, as a browser visit
would approve it), and the next `login` opens the session once the code is approved.
Logs go to stderr; stdout carries exactly one JSON object. See docs/remote-protocol.md.
"""

import hashlib
import json
import os
import re
import sys
import time

PROTOCOL_VERSION = 1
SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


class AdapterError(Exception):
    """An error object for the response: code from the protocol's list."""

    def __init__(self, code, message, retryable=False, action=None):
        super().__init__(message)
        self.code, self.message, self.retryable, self.action = code, message, retryable, action


def log(msg):
    print(f"gantry_remote_py: {msg}", file=sys.stderr)


def safe(what, value):
    if not isinstance(value, str) or not SAFE.match(value):
        raise AdapterError("invalid_request", f"{what} {value!r} must be 1-128 of [A-Za-z0-9._-]")
    return value


def field(obj, key, kind, what=None):
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise AdapterError("invalid_request", f"missing or bad field `{what or key}`")
    return value


def root():
    r = os.environ.get("GANTRY_REMOTE_PY_ROOT", "")
    if not os.path.isabs(r):
        raise AdapterError("invalid_request", "GANTRY_REMOTE_PY_ROOT must be set to an absolute path")
    for d in ("staging", "releases", "runs", "sessions"):
        os.makedirs(os.path.join(r, d), exist_ok=True)
    return r


def sha256_file(path):
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def versions(r, name):
    d = os.path.join(r, "releases", name)
    if not os.path.isdir(d):
        return []
    vs = [v for v in os.listdir(d) if os.path.isfile(os.path.join(d, v, "release.json"))]
    return sorted(vs, key=lambda v: (int(v) if v.isdigit() else float("inf"), v))


def read_release(r, name, version):
    try:
        with open(os.path.join(r, "releases", name, version, "release.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


SESSION_SECONDS = 3600


def session_path(req):
    return os.path.join(root(), "sessions", safe("remote", req.get("remote")) + ".json")


def session(req):
    """The open session of this remote, or None when there is none or it expired."""
    try:
        with open(session_path(req)) as f:
            s = json.load(f)
    except (FileNotFoundError, ValueError):
        return None
    return s if s.get("expires_at_unix", 0) > time.time() else None


def require_login(req):
    if os.environ.get("GANTRY_REMOTE_PY_LOGIN") in ("required", "device") and session(req) is None:
        remote = req.get("remote", "NAME")
        raise AdapterError("auth_required", f"no open session for remote {remote!r}",
                           action={"type": "run_command", "command": f"gantry remote login {remote}"})


def identity(s):
    if s is None:
        return {"authenticated": False}
    return {"authenticated": True, "subject": s["subject"], "issuer": "gantry_remote_py",
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s["expires_at_unix"]))}


DEVICE_CODE_SECONDS = 600


def device_login(req):
    """The device-code flow: a pending code until ROOT/device/CODE exists, then a session."""
    pending = session_path(req)[: -len(".json")] + ".pending"
    try:
        with open(pending) as f:
            p = json.load(f)
    except (FileNotFoundError, ValueError):
        p = None
    if p is not None and p.get("expires_at_unix", 0) > time.time():
        if os.path.exists(os.path.join(root(), "device", p["user_code"])):
            os.remove(pending)
            return None
    else:
        code = hashlib.sha256(os.urandom(16)).hexdigest()[:8].upper()
        p = {"user_code": f"{code[:4]}-{code[4:]}", "expires_at_unix": int(time.time()) + DEVICE_CODE_SECONDS}
        os.makedirs(os.path.dirname(pending), exist_ok=True)
        with open(os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(p, f)
    return {"identity": {"authenticated": False},
            "instructions": {"user_code": p["user_code"],
                             "verification_uri": "file://" + os.path.join(root(), "device"),
                             "expires_in_seconds": max(0, int(p["expires_at_unix"] - time.time()))}}


def login(req):
    if os.environ.get("GANTRY_REMOTE_PY_LOGIN") == "device":
        waiting = device_login(req)
        if waiting is not None:
            return waiting
    path = session_path(req)
    user = os.environ.get("USER") or str(os.getuid())
    s = {"subject": f"{user}@{os.uname().nodename}", "expires_at_unix": int(time.time()) + SESSION_SECONDS}
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(s, f)
    os.rename(tmp, path)
    return {"identity": identity(s)}


def push_prepare(req):
    r = root()
    require_login(req)
    pack = field(req, "pack", dict)
    digest = field(pack, "digest", str, "pack.digest")
    size = field(pack, "size_bytes", int, "pack.size_bytes")
    if not re.match(r"^sha256:[0-9a-f]{64}$", digest):
        raise AdapterError("invalid_request", f"pack.digest {digest!r} is not sha256:<64 hex>")
    release = req.get("release") or {}
    stem = os.path.splitext(os.path.basename(pack.get("path") or "pack"))[0]
    name = safe("release name", release.get("name") or stem)
    version = release.get("version")
    if version is None:
        nums = [int(v) for v in versions(r, name) if v.isdigit()]
        version = str(max(nums, default=0) + 1)
    safe("release version", version)
    if os.path.exists(os.path.join(r, "releases", name, version)):
        raise AdapterError("conflict", f"release {name}@{version} already exists")
    token = f"{time.time_ns():x}-{os.getpid()}"
    with open(os.path.join(r, "staging", token + ".json"), "w") as f:
        json.dump({"name": name, "version": version, "digest": digest, "size_bytes": size}, f)
    url = "file://" + os.path.join(r, "staging", token + ".pack")
    return {"upload": {"method": "PUT", "url": url, "headers": {}}, "finalize_token": token}


def push_finalize(req):
    r = root()
    token = safe("finalize_token", field(req, "finalize_token", str))
    meta = os.path.join(r, "staging", token + ".json")
    pack = os.path.join(r, "staging", token + ".pack")
    try:
        with open(meta) as f:
            staged = json.load(f)
        digest, size = sha256_file(pack)
    except FileNotFoundError:
        raise AdapterError("not_found", f"no finished upload for token {token!r}")
    if digest != staged["digest"] or size != staged["size_bytes"]:
        raise AdapterError("invalid_request", "the upload does not match what push.prepare announced")
    d = os.path.join(r, "releases", staged["name"], staged["version"])
    os.makedirs(os.path.dirname(d), exist_ok=True)
    try:
        os.mkdir(d)
    except FileExistsError:
        raise AdapterError("conflict", f"release {staged['name']}@{staged['version']} already exists")
    os.rename(pack, os.path.join(d, "pack"))
    release = {
        "release_id": f"{staged['name']}/{staged['version']}",
        "pack_digest": digest,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "canonical_ref": f"{staged['name']}@{staged['version']}",
    }
    with open(os.path.join(d, "release.json"), "w") as f:
        json.dump(release, f)
    os.remove(meta)
    return {"release": release, "links": {}}


def pull_prepare(req):
    r = root()
    require_login(req)
    ref = field(req, "ref", dict)
    release = None
    if ref.get("digest"):
        for name in sorted(os.listdir(os.path.join(r, "releases"))):
            for v in versions(r, name):
                rel = read_release(r, name, v)
                if rel and rel["pack_digest"] == ref["digest"]:
                    release = rel
                    break
            if release:
                break
    else:
        name = safe("ref.name", ref.get("name"))
        version = ref.get("version") or (versions(r, name) or [None])[-1]
        if version is not None:
            release = read_release(r, name, safe("ref.version", version))
    if release is None:
        raise AdapterError("not_found", f"no release matches {ref.get('raw', '')!r}")
    name, _, version = release["release_id"].partition("/")
    pack = os.path.join(r, "releases", name, version, "pack")
    download = {"url": "file://" + pack, "headers": {}, "digest": release["pack_digest"],
                "size_bytes": os.path.getsize(pack)}
    return {"download": download, "release": release, "finalize_token": release["release_id"]}


def pull_finalize(req):
    field(req, "digest", str)
    return {}


def runs_sync(req):
    r = root()
    out = {"accepted": 0, "rejected": 0, "items": []}
    for run in field(req, "runs", list):
        run_id = run.get("run_id") if isinstance(run, dict) else None
        if not isinstance(run_id, str) or not SAFE.match(run_id):
            status = "rejected"
        else:
            try:
                with open(os.path.join(r, "runs", run_id + ".json"), "x") as f:
                    json.dump(run.get("ledger"), f)
                status = "accepted"
            except FileExistsError:
                status = "duplicate"
        if status in ("accepted", "rejected"):
            out[status] += 1
        out["items"].append({"run_id": run_id or "", "status": status})
    return out


def whoami(req):
    if os.environ.get("GANTRY_REMOTE_PY_LOGIN") != "required":
        return {"identity": {"authenticated": True, "subject": "local:" + root(), "issuer": "gantry_remote_py"}}
    return {"identity": identity(session(req))}


COMMANDS = {
    "push.prepare": push_prepare,
    "push.finalize": push_finalize,
    "pull.prepare": pull_prepare,
    "pull.finalize": pull_finalize,
    "runs.sync": runs_sync,
    "auth.login": login,
    "auth.whoami": whoami,
}

CAPABILITIES = {
    "name": "py",
    "protocol_version": PROTOCOL_VERSION,
    "features": {"prepare_finalize": True, "pull": True, "runs_sync": True,
                 "auth_login": True, "whoami": True},
    "auth": {"modes": ["none", "session"]},
    "limits": {"max_pack_bytes": 1 << 32},
}


def respond(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def error(request_id, code, message, retryable=False, action=None):
    body = {"code": code, "message": message, "retryable": retryable}
    if action:
        body["action"] = action
    respond({"ok": False, "type": "error", "request_id": request_id, "error": body})


def main(argv):
    if argv[1:] == ["--capabilities"]:
        respond(CAPABILITIES)
        return 0
    if len(argv) != 2:
        log("usage: gantry_remote_py.py --capabilities | COMMAND < request.json")
        return 2
    command = argv[1]
    try:
        req = json.loads(sys.stdin.read())
    except ValueError as e:
        error("", "invalid_request", f"the request is not JSON: {e}")
        return 0
    if not isinstance(req, dict):
        error("", "invalid_request", "the request is not a JSON object")
        return 0
    request_id = req.get("request_id") if isinstance(req.get("request_id"), str) else ""
    if req.get("protocol_version") != PROTOCOL_VERSION:
        error(request_id, "unsupported_protocol",
              f"this adapter speaks protocol v{PROTOCOL_VERSION}, got {req.get('protocol_version')!r}")
        return 0
    handler = COMMANDS.get(command)
    if handler is None or req.get("type") != command:
        error(request_id, "invalid_request", f"unknown or unsupported command {command!r}")
        return 0
    log(f"{command} {request_id}")
    try:
        body = handler(req)
    except AdapterError as e:
        error(request_id, e.code, e.message, e.retryable, e.action)
        return 0
    except OSError as e:
        error(request_id, "server_error", str(e), retryable=True)
        return 0
    respond({"ok": True, "type": command + ".result", "request_id": request_id, **body})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
