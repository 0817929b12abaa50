#!/usr/bin/env python3
"""epack-remote-spec: a remote adapter written from epack's published specification only.

It follows "epack Remote Adapter Protocol v1 Specification" (epack's docs/remote-protocol.md)
and nothing of gantry: no `protocol_version` in its capabilities, no release names, its own
release ids (`rel_<n>`) and versions (`v<n>`), canonical refs
`spec.example/<workspace>/<environment>@sha256:...`, `pack.digest` in pull.prepare the
digest the pack was pushed with, `pack_digest` read in pull.finalize and runs.sync as the
spec names it, a device-code `auth.login` that answers with instructions only. gantry's
tests drive it to prove gantry works with an adapter built for epack, unchanged.

    epack_remote_spec.py --capabilities
    epack_remote_spec.py push.prepare < request.json

Storage: $EPACK_REMOTE_SPEC_ROOT. Device-code approval (what the browser visit does): create
the file ROOT/device/<user_code>. With EPACK_REMOTE_SPEC_AUTH=required, push and pull
answer auth_required until a sign-in completed.
"""

import hashlib
import json
import os
import sys
import time

VERSION = 1


class Fail(Exception):
    def __init__(self, code, message, action=None):
        super().__init__(message)
        self.code, self.message, self.action = code, message, action


def root():
    r = os.environ.get("EPACK_REMOTE_SPEC_ROOT", "")
    if not os.path.isabs(r):
        raise Fail("invalid_request", "EPACK_REMOTE_SPEC_ROOT is not an absolute path")
    os.makedirs(r, exist_ok=True)
    return r


def load(name, default):
    try:
        with open(os.path.join(root(), name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def save(name, value):
    path = os.path.join(root(), name)
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
    os.rename(path + ".tmp", path)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def later(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


def scope(req):
    target = req.get("target") or {}
    return f"{target.get('workspace') or 'default'}/{target.get('environment') or 'default'}"


def token():
    return "tok_" + hashlib.sha256(os.urandom(16)).hexdigest()[:20]


# --- authentication (adapter-managed) ---

def signed_in():
    s = load("session.json", None)
    if s is None:
        pending = load("pending.json", None)
        if pending and pending["expires"] > time.time() and \
                os.path.exists(os.path.join(root(), "device", pending["user_code"])):
            s = {"subject": "spec-user@example.com", "expires": time.time() + 3600}
            save("session.json", s)
            os.remove(os.path.join(root(), "pending.json"))
    return s if s and s["expires"] > time.time() else None


def require_auth():
    if os.environ.get("EPACK_REMOTE_SPEC_AUTH") == "required" and signed_in() is None:
        raise Fail("auth_required", "Authentication required.",
                   {"type": "run_command", "command": "epack remote login spec"})


def auth_login(req):
    code = hashlib.sha256(os.urandom(8)).hexdigest()[:8].upper()
    user_code = f"{code[:4]}-{code[4:]}"
    save("pending.json", {"user_code": user_code, "expires": time.time() + 600})
    return {"instructions": {"user_code": user_code,
                             "verification_uri": "file://" + os.path.join(root(), "device"),
                             "expires_in_seconds": 600}}


def auth_whoami(req):
    s = signed_in()
    if s is None:
        return {"identity": {"authenticated": False}}
    return {"identity": {"authenticated": True, "subject": s["subject"], "issuer": "https://spec.example",
                         "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s["expires"]))}}


# --- push ---

def releases():
    return load("releases.json", [])


def push_prepare(req):
    require_auth()
    pack = req.get("pack")
    if not isinstance(pack, dict) or not isinstance(pack.get("digest"), str) \
            or not pack["digest"].startswith("sha256:") or not isinstance(pack.get("size_bytes"), int):
        raise Fail("invalid_request", "pack.digest and pack.size_bytes are required")
    tok = token()
    pending = load("uploads.json", {})
    known = [r for r in releases() if r["pack_digest"] == pack["digest"] and r["scope"] == scope(req)]
    release = req.get("release") or {}
    pending[tok] = {"digest": pack["digest"], "size_bytes": pack["size_bytes"], "scope": scope(req),
                    "labels": release.get("labels") or [], "notes": release.get("notes") or "",
                    "existing": known[-1]["file"] if known else None}
    save("uploads.json", pending)
    if known:
        # The pack is already stored: nothing to upload.
        return {"upload": {"method": "skip", "url": ""}, "finalize_token": tok}
    path = os.path.join(root(), "incoming", tok, pack["digest"][len("sha256:"):] + ".pack")
    return {"upload": {"method": "PUT", "url": "file://" + path,
                       "headers": {"Content-Type": "application/octet-stream"}, "expires_at": later(900)},
            "finalize_token": tok}


def push_finalize(req):
    require_auth()
    tok = req.get("finalize_token")
    pending = load("uploads.json", {})
    up = pending.get(tok) if isinstance(tok, str) else None
    if up is None:
        raise Fail("not_found", "unknown finalize_token")
    if (req.get("pack") or {}).get("digest") != up["digest"]:
        raise Fail("invalid_request", "pack.digest differs from push.prepare")
    if up["existing"]:
        stored = up["existing"]
    else:
        incoming = os.path.join(root(), "incoming", tok, up["digest"][len("sha256:"):] + ".pack")
        if not os.path.isfile(incoming) or os.path.getsize(incoming) != up["size_bytes"]:
            raise Fail("invalid_request", "the upload is missing or has the wrong size")
        os.makedirs(os.path.join(root(), "packs"), exist_ok=True)
        stored = os.path.join(root(), "packs", tok + ".pack")
        os.rename(incoming, stored)
    all_releases = releases()
    n = len(all_releases) + 1
    in_scope = [r for r in all_releases if r["scope"] == up["scope"]]
    ws, env = up["scope"].split("/")
    rel = {"release_id": f"rel_{n}", "version": f"v{len(in_scope) + 1}", "pack_digest": up["digest"],
           "created_at": now(), "scope": up["scope"], "file": stored, "size_bytes": up["size_bytes"],
           "labels": up["labels"], "canonical_ref": f"spec.example/{ws}/{env}@{up['digest']}"}
    all_releases.append(rel)
    save("releases.json", all_releases)
    del pending[tok]
    save("uploads.json", pending)
    return {"release": {"release_id": rel["release_id"], "pack_digest": rel["pack_digest"],
                        "created_at": rel["created_at"], "canonical_ref": rel["canonical_ref"]},
            "links": {"release": f"https://spec.example/releases/{rel['release_id']}"}}


# --- pull ---

def pull_prepare(req):
    require_auth()
    ref = req.get("ref") or {}
    found = [r for r in releases() if r["scope"] == scope(req)]
    if ref.get("digest"):
        found = [r for r in found if r["pack_digest"] == ref["digest"]]
    elif ref.get("release_id"):
        found = [r for r in found if r["release_id"] == ref["release_id"]]
    elif ref.get("version"):
        found = [r for r in found if r["version"] == ref["version"]]
    if not found:
        raise Fail("not_found", "no such pack")
    rel = found[-1]
    tok = token()
    issued = load("downloads.json", {})
    issued[tok] = rel["pack_digest"]
    save("downloads.json", issued)
    return {"download": {"url": "file://" + rel["file"], "headers": {}, "expires_at": later(900)},
            "pack": {"digest": rel["pack_digest"], "size_bytes": rel["size_bytes"], "stream": rel["scope"],
                     "release_id": rel["release_id"], "version": rel["version"],
                     "created_at": rel["created_at"], "labels": rel["labels"]},
            "finalize_token": tok}


def pull_finalize(req):
    issued = load("downloads.json", {})
    tok = req.get("finalize_token")
    if not isinstance(tok, str) or tok not in issued:
        raise Fail("not_found", "unknown finalize_token")
    if req.get("pack_digest") not in (None, issued[tok]):
        raise Fail("invalid_request", "pack_digest does not match the download")
    del issued[tok]
    save("downloads.json", issued)
    return {"confirmed": True}


# --- runs ---

def runs_sync(req):
    runs = req.get("runs")
    if not isinstance(runs, list):
        raise Fail("invalid_request", "runs is required")
    stored = load("runs.json", {})
    out = {"accepted": 0, "rejected": 0, "items": []}
    for run in runs:
        run = run if isinstance(run, dict) else {}
        run_id = run.get("run_id") if isinstance(run.get("run_id"), str) else ""
        status = "rejected"
        try:
            with open(run.get("result_path") or "", "rb") as f:
                good = "sha256:" + hashlib.sha256(f.read()).hexdigest() == run.get("result_digest")
        except (OSError, TypeError):
            good = False
        if run_id and good:
            if run_id in stored:
                status = "duplicate"
            else:
                stored[run_id] = {"pack_digest": req.get("pack_digest"), "result_digest": run["result_digest"],
                                  "scope": scope(req)}
                status = "accepted"
        if status == "accepted":
            out["accepted"] += 1
        elif status == "rejected":
            out["rejected"] += 1
        out["items"].append({"run_id": run_id, "status": status})
    save("runs.json", stored)
    return out


HANDLERS = {"push.prepare": push_prepare, "push.finalize": push_finalize, "pull.prepare": pull_prepare,
            "pull.finalize": pull_finalize, "runs.sync": runs_sync, "auth.login": auth_login,
            "auth.whoami": auth_whoami}

CAPABILITIES = {
    "name": "spec",
    "kind": "remote_adapter",
    "deploy_protocol_version": 1,
    "features": {"prepare_finalize": True, "direct_upload": False, "pull": True, "runs_sync": True,
                 "auth_login": True, "whoami": True},
    "auth": {"modes": ["device_code"], "token_storage": "encrypted_file"},
    "limits": {"max_pack_bytes": 104857600, "max_runs_per_sync": 100},
}


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")


def main():
    if sys.argv[1:] == ["--capabilities"]:
        reply(CAPABILITIES)
        return 0
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    request_id = ""
    try:
        try:
            req = json.loads(sys.stdin.read())
        except ValueError:
            raise Fail("invalid_request", "Malformed request")
        if not isinstance(req, dict):
            raise Fail("invalid_request", "Malformed request")
        request_id = req.get("request_id") if isinstance(req.get("request_id"), str) else ""
        if req.get("protocol_version") != VERSION:
            raise Fail("unsupported_protocol", "Protocol version not supported")
        if command not in HANDLERS or req.get("type") != command:
            raise Fail("invalid_request", "unknown command")
        body = HANDLERS[command](req)
    except Fail as f:
        error = {"code": f.code, "message": f.message, "retryable": False}
        if f.action:
            error["action"] = f.action
        reply({"ok": False, "type": "error", "request_id": request_id, "error": error})
        return 0
    except OSError as e:
        reply({"ok": False, "type": "error", "request_id": request_id,
               "error": {"code": "server_error", "message": str(e), "retryable": True}})
        return 0
    reply({"ok": True, "type": command + ".result", "request_id": request_id, **body})
    return 0


if __name__ == "__main__":
    sys.exit(main())
