#!/usr/bin/env python3
"""gantry remote adapter in plain Python: a directory is the remote.

It speaks epack's Remote Adapter Protocol v1 with gantry's optional additions
(docs/remote-protocol.md), so it works under gantry and under epack (`gantry remote test
NAME --as-epack` proves the latter). The whole protocol in one stdlib file, to copy when
writing an adapter for your own remote. The caller runs it once per command:

    gantry_remote_py.py --capabilities          -> prints capabilities (no stdin)
    gantry_remote_py.py push.prepare < req.json -> prints one JSON response

Root directory: $GANTRY_REMOTE_PY_ROOT (set it in gantry.toml: [remotes.NAME].env).
With GANTRY_REMOTE_PY_LOGIN=required, push and pull need a session first: `gantry remote
login NAME` (auth.login) opens one for an hour under ROOT/sessions, `whoami` shows it, and
without one the adapter answers auth_required with the command that fixes it. With
GANTRY_REMOTE_PY_LOGIN=device, login is epack's device-code flow: auth.login returns only
a code and where to enter it (here: create the file ROOT/device/CODE, as a browser visit
would approve it); once the code is approved, auth.whoami opens the session and reports
it (gantry asks whoami until then). Logs go to stderr; stdout carries exactly one JSON
object.
"""

import hashlib
import json
import os
import re
import sys
import time

PROTOCOL_VERSION = 1
SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


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
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise AdapterError("invalid_request", f"missing or bad field `{what or key}`")
    return value


def digest_field(obj, key, what, required=True):
    value = obj.get(key) if isinstance(obj, dict) else None
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not DIGEST.match(value):
        raise AdapterError("invalid_request", f"{what} {value!r} is not sha256:<64 lowercase hex>")
    return value


def root():
    r = os.environ.get("GANTRY_REMOTE_PY_ROOT", "")
    if not os.path.isabs(r):
        raise AdapterError("invalid_request", "GANTRY_REMOTE_PY_ROOT must be set to an absolute path")
    for d in ("staging", "releases", "pulls", "runs", "sessions"):
        os.makedirs(os.path.join(r, d), exist_ok=True)
    return r


def write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.rename(tmp, path)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def sha256_file(path):
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def records(r):
    """Every release record, oldest first."""
    out = []
    base = os.path.join(r, "releases")
    for name in os.listdir(base):
        for version in os.listdir(os.path.join(base, name)):
            rec = read_json(os.path.join(base, name, version, "release.json"))
            if rec is not None:
                out.append(rec)
    return sorted(out, key=lambda rec: rec["created_ns"])


# --- sessions (GANTRY_REMOTE_PY_LOGIN) ---

SESSION_SECONDS = 3600
DEVICE_CODE_SECONDS = 600


def remote_name(req):
    # epack sends no `remote` in auth requests; gantry does.
    return safe("remote", req.get("remote") or "default")


def session_path(req):
    return os.path.join(root(), "sessions", remote_name(req) + ".json")


def session(req):
    """The open session of this remote, or None when there is none or it expired."""
    s = read_json(session_path(req))
    return s if s and s.get("expires_at_unix", 0) > time.time() else None


def open_session(req):
    user = os.environ.get("USER") or str(os.getuid())
    s = {"subject": f"{user}@{os.uname().nodename}", "expires_at_unix": int(time.time()) + SESSION_SECONDS}
    path = session_path(req)
    with open(os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(s, f)
    os.rename(path + ".tmp", path)
    return s


def require_login(req):
    if os.environ.get("GANTRY_REMOTE_PY_LOGIN") in ("required", "device") and session(req) is None:
        remote = req.get("remote") or "NAME"
        raise AdapterError("auth_required", f"no open session for remote {remote!r}",
                           action={"type": "run_command", "command": f"gantry remote login {remote}"})


def identity(s):
    if s is None:
        return {"authenticated": False}
    return {"authenticated": True, "subject": s["subject"], "issuer": "gantry_remote_py",
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s["expires_at_unix"]))}


def pending_path(req):
    return session_path(req)[: -len(".json")] + ".pending"


def approved_device_code(req):
    """Whether the pending device code was approved (ROOT/device/CODE exists); consumes it."""
    p = read_json(pending_path(req))
    if p is None or p.get("expires_at_unix", 0) <= time.time():
        return False
    if not os.path.exists(os.path.join(root(), "device", p["user_code"])):
        return False
    os.remove(pending_path(req))
    return True


def device_login(req):
    """epack's device-code flow: instructions only; whoami reports the session once approved."""
    p = read_json(pending_path(req))
    if p is None or p.get("expires_at_unix", 0) <= time.time():
        code = hashlib.sha256(os.urandom(16)).hexdigest()[:8].upper()
        p = {"user_code": f"{code[:4]}-{code[4:]}", "expires_at_unix": int(time.time()) + DEVICE_CODE_SECONDS}
        write_json(pending_path(req), p)
    return {"instructions": {"user_code": p["user_code"],
                             "verification_uri": "file://" + os.path.join(root(), "device"),
                             "expires_in_seconds": max(0, int(p["expires_at_unix"] - time.time()))}}


def login(req):
    if os.environ.get("GANTRY_REMOTE_PY_LOGIN") == "device" and not approved_device_code(req):
        return device_login(req)
    # gantry's addition: the login finished at once, so say who it is.
    return {"identity": identity(open_session(req))}


def whoami(req):
    mode = os.environ.get("GANTRY_REMOTE_PY_LOGIN")
    if mode not in ("required", "device"):
        return {"identity": {"authenticated": True, "subject": "local:" + root(), "issuer": "gantry_remote_py"}}
    if session(req) is None and mode == "device" and approved_device_code(req):
        open_session(req)
    return {"identity": identity(session(req))}


# --- push ---

def push_prepare(req):
    r = root()
    require_login(req)
    pack = field(req, "pack", dict)
    digest = digest_field(pack, "digest", "pack.digest")
    file_digest = digest_field(pack, "file_digest", "pack.file_digest", required=False)
    size = field(pack, "size_bytes", int, "pack.size_bytes")
    release = req.get("release") or {}
    stem = os.path.splitext(os.path.basename(pack.get("path") or "pack"))[0]
    name = safe("release name", release.get("name") or (stem if SAFE.match(stem) else "pack"))
    version = release.get("version")
    if version is None:
        base = os.path.join(r, "releases", name)
        nums = [int(v) for v in (os.listdir(base) if os.path.isdir(base) else []) if v.isdigit()]
        version = str(max(nums, default=0) + 1)
    safe("release version", version)
    if os.path.exists(os.path.join(r, "releases", name, version)):
        raise AdapterError("conflict", f"release {name}@{version} already exists")
    existing = None
    if file_digest:
        same = [rec for rec in records(r) if rec["file_digest"] == file_digest and rec["size_bytes"] == size]
        existing = [same[-1]["name"], same[-1]["version"]] if same else None
    token = hashlib.sha256(f"{time.time_ns()}-{os.getpid()}".encode()).hexdigest()[:24]
    write_json(os.path.join(r, "staging", token + ".json"),
               {"name": name, "version": version, "digest": digest, "file_digest": file_digest,
                "size_bytes": size, "labels": release.get("labels") or [], "existing": existing})
    if existing:
        # epack's CLI and gantry skip the upload: the bytes are here already.
        return {"upload": {"method": "skip", "url": ""}, "finalize_token": token}
    # A directory that does not exist yet: the uploader creates it.
    url = "file://" + os.path.join(r, "staging", token, "pack")
    return {"upload": {"method": "PUT", "url": url, "headers": {}}, "finalize_token": token}


def push_finalize(req):
    r = root()
    token = safe("finalize_token", field(req, "finalize_token", str))
    staged = read_json(os.path.join(r, "staging", token + ".json"))
    if staged is None:
        raise AdapterError("not_found", f"no upload in progress for token {token!r}")
    if field(req, "pack", dict).get("digest") != staged["digest"]:
        raise AdapterError("invalid_request", "push.finalize names another pack than push.prepare")
    if staged["existing"]:
        source = os.path.join(r, "releases", *staged["existing"], "pack")
    else:
        source = os.path.join(r, "staging", token, "pack")
    try:
        file_digest, size = sha256_file(source)
    except FileNotFoundError:
        raise AdapterError("invalid_request", "the pack was not uploaded")
    if size != staged["size_bytes"] or staged["file_digest"] not in (None, file_digest):
        raise AdapterError("invalid_request", "the upload does not match what push.prepare announced")
    d = os.path.join(r, "releases", staged["name"], staged["version"])
    os.makedirs(os.path.dirname(d), exist_ok=True)
    try:
        os.mkdir(d)
    except FileExistsError:
        raise AdapterError("conflict", f"release {staged['name']}@{staged['version']} already exists")
    if staged["existing"]:
        os.link(source, os.path.join(d, "pack"))
    else:
        os.rename(source, os.path.join(d, "pack"))
        os.rmdir(os.path.dirname(source))
    release = {
        "release_id": f"{staged['name']}/{staged['version']}",
        "pack_digest": staged["digest"],
        "created_at": now_rfc3339(),
        "canonical_ref": f"py/{staged['name']}@{staged['digest']}",
        "version": staged["version"],
        "name": staged["name"],
    }
    write_json(os.path.join(d, "release.json"),
               {"release": release, "name": staged["name"], "version": staged["version"],
                "file_digest": file_digest, "size_bytes": size, "labels": staged["labels"],
                "created_ns": time.time_ns()})
    os.remove(os.path.join(r, "staging", token + ".json"))
    return {"release": release}


# --- pull ---

def resolve(r, ref):
    recs = records(r)
    name = ref.get("name") or None
    named = [rec for rec in recs if name is None or rec["name"] == name]
    if ref.get("digest"):
        found = [rec for rec in recs if ref["digest"] in (rec["release"]["pack_digest"], rec["file_digest"])]
    elif ref.get("release_id"):
        found = [rec for rec in recs if rec["release"]["release_id"] == ref["release_id"]]
    elif ref.get("version"):
        found = [rec for rec in named if rec["version"] == ref["version"]]
    else:
        found = named
    return found[-1] if found else None


def pull_prepare(req):
    r = root()
    require_login(req)
    ref = req.get("ref") or {}
    if not isinstance(ref, dict):
        raise AdapterError("invalid_request", "`ref` is not an object")
    rec = resolve(r, ref)
    if rec is None:
        raise AdapterError("not_found", f"no release matches {json.dumps(ref, sort_keys=True)}")
    pack = os.path.join(r, "releases", rec["name"], rec["version"], "pack")
    token = hashlib.sha256(f"pull-{time.time_ns()}-{os.getpid()}".encode()).hexdigest()[:24]
    write_json(os.path.join(r, "pulls", token + ".json"),
               {"file_digest": rec["file_digest"], "pack_digest": rec["release"]["pack_digest"]})
    meta = {
        # epack's CLI compares the download's sha256 with pack.digest: the file's digest.
        "digest": rec["file_digest"], "size_bytes": rec["size_bytes"], "stream": rec["name"],
        "created_at": rec["release"]["created_at"], "release_id": rec["release"]["release_id"],
        "version": rec["version"], "labels": rec["labels"],
        # gantry's additions: what gantry checks the resolution against.
        "name": rec["name"], "pack_digest": rec["release"]["pack_digest"], "file_digest": rec["file_digest"],
    }
    return {"download": {"method": "GET", "url": "file://" + pack, "headers": {}},
            "pack": meta, "finalize_token": token}


def pull_finalize(req):
    r = root()
    token = safe("finalize_token", field(req, "finalize_token", str))
    issued = read_json(os.path.join(r, "pulls", token + ".json"))
    if issued is None:
        raise AdapterError("not_found", f"pull.prepare issued no token {token!r}")
    digest = req.get("digest") or req.get("pack_digest")
    if digest and digest not in (issued["file_digest"], issued["pack_digest"]):
        raise AdapterError("invalid_request", f"token {token!r} was issued for another pack")
    os.remove(os.path.join(r, "pulls", token + ".json"))
    return {"confirmed": True}


# --- runs ---

def runs_sync(req):
    r = root()
    out = {"accepted": 0, "rejected": 0, "items": []}
    for run in field(req, "runs", list):
        run = run if isinstance(run, dict) else {}
        run_id = run.get("run_id")
        status = "rejected"
        path = run.get("result_path")
        if isinstance(run_id, str) and SAFE.match(run_id) and isinstance(path, str) and os.path.isabs(path):
            try:
                ok = sha256_file(path)[0] == run.get("result_digest")
            except OSError:
                ok = False
            if ok:
                try:
                    with open(os.path.join(r, "runs", run_id + ".json"), "xb") as dest, open(path, "rb") as src:
                        dest.write(src.read())
                    status = "accepted"
                except FileExistsError:
                    status = "duplicate"
        if status in ("accepted", "rejected"):
            out[status] += 1
        out["items"].append({"run_id": run_id if isinstance(run_id, str) else "", "status": status})
    return out


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
    # epack's spelling (epack refuses an adapter without it) and gantry's first one.
    "kind": "remote_adapter",
    "deploy_protocol_version": PROTOCOL_VERSION,
    "protocol_version": PROTOCOL_VERSION,
    "features": {"prepare_finalize": True, "direct_upload": False, "pull": True, "runs_sync": True,
                 "auth_login": True, "whoami": True},
    "auth": {"modes": ["none", "device_code"]},
    "limits": {"max_pack_bytes": 1 << 32, "max_runs_per_sync": 100},
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
        # epack writes the request without a trailing newline; read to EOF.
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
