//! The scenarios. Each returns a short detail on success and the reason on failure.

use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::time::Duration;

use gantry_backend::{ExecRequest, Health, StopLevel};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::harness::{ensure, exec, sh, CaseResult, Ctx};

type CaseFn = fn(Ctx) -> Pin<Box<dyn Future<Output = CaseResult> + Send>>;

macro_rules! cases {
    ($($name:literal => $f:ident),* $(,)?) => {
        pub(crate) const ALL: &[(&str, CaseFn)] = &[$(($name, |c| Box::pin($f(c)))),*];
    };
}

cases! {
    "capabilities" => capabilities,
    "exec-echo" => exec_echo,
    "exit-codes" => exit_codes,
    "stdout-stderr" => stdout_stderr,
    "large-output" => large_output,
    "env-exact" => env_exact,
    "working-dir" => working_dir,
    "write-read-file" => write_read_file,
    "env-file" => env_file,
    "copy-round-trip" => copy_round_trip,
    "copy-in-refuses-escape" => copy_in_refuses_escape,
    "terminate" => terminate,
    "kill-after-ignored-term" => kill_after_ignored_term,
    "remove-kills-background" => remove_kills_background,
    "health" => health,
    "remove-idempotent" => remove_idempotent,
    "reap-dead-run" => reap_dead_run,
    "bad-request" => bad_request,
}

async fn capabilities(ctx: Ctx) -> CaseResult {
    let caps = ctx.backend.capabilities();
    ensure(!caps.backend.is_empty(), || {
        "capabilities name no backend".into()
    })?;
    ensure(!caps.os.is_empty() && !caps.arch.is_empty(), || {
        "capabilities name no os/arch".into()
    })?;
    ensure(ctx.backend.validate_label(&ctx.label).is_ok(), || {
        "the suite's own label does not validate".into()
    })?;
    Ok(format!(
        "backend {} on {}/{}",
        caps.backend, caps.os, caps.arch
    ))
}

async fn exec_echo(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let out = sh(&c, "echo hi", &[], None).await?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(out.stdout == b"hi\n", || {
        format!("stdout was {:?}", out.stdout_text())
    })?;
    ensure(out.status.is_some_and(|s| s.success()), || {
        format!("status {:?}", out.status)
    })?;
    Ok("ok".into())
}

async fn exit_codes(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let three = sh(&c, "exit 3", &[], None).await?;
    let killed = sh(&c, "kill -9 $$", &[], None).await?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(three.status.map(|s| s.shell_code()) == Some(3), || {
        format!("`exit 3` gave {:?}", three.status)
    })?;
    ensure(killed.status.map(|s| s.shell_code()) == Some(137), || {
        format!("`kill -9 $$` gave {:?}", killed.status)
    })?;
    Ok("3 and SIGKILL".into())
}

async fn stdout_stderr(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let out = sh(&c, "echo out; echo err >&2", &[], None).await?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(out.stdout == b"out\n" && out.stderr == b"err\n", || {
        format!(
            "stdout {:?} stderr {:?}",
            out.stdout_text(),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok("separated".into())
}

async fn large_output(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let started = std::time::Instant::now();
    let out = sh(&c, "head -c 67108864 /dev/zero", &[], None).await?;
    let secs = started.elapsed().as_secs_f64();
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(out.stdout.len() == 64 << 20, || {
        format!("got {} bytes of 64 MiB", out.stdout.len())
    })?;
    Ok(format!("64 MiB in {secs:.2}s"))
}

async fn env_exact(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let value = "spaces and 'quotes' \"double\" $dollar\nnewline";
    let out = sh(
        &c,
        "printf %s \"$GANTRY_CONF_VALUE\"",
        &[("GANTRY_CONF_VALUE", value)],
        None,
    )
    .await?;
    let leak = sh(&c, "printf %s \"${GANTRY_CONF_UNSET-unset}\"", &[], None).await?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(out.stdout_text() == value, || {
        format!("the process saw {:?}", out.stdout_text())
    })?;
    ensure(leak.stdout_text() == "unset", || {
        "a variable from another exec leaked".into()
    })?;
    Ok("exact".into())
}

async fn working_dir(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let ws = c.paths().workspace;
    c.write_file(&format!("{ws}/sub/marker"), b"here", 0o644)
        .await
        .map_err(|e| format!("write_file: {e}"))?;
    let mut req = ExecRequest::new(vec!["sh".into(), "-c".into(), "cat marker".into()]);
    req.env
        .insert("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into());
    let out = exec(&c, req.working_dir(Some("sub".into())), None).await?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(out.stdout == b"here", || {
        format!("relative working dir: {:?}", out.stdout_text())
    })?;
    Ok("relative to the workspace".into())
}

async fn write_read_file(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let temp = c.paths().temp;
    let path = format!("{temp}/deep/file.txt");
    c.write_file(&path, b"contents\n", 0o640)
        .await
        .map_err(|e| format!("write_file: {e}"))?;
    let back = c
        .read_file(&path)
        .await
        .map_err(|e| format!("read_file: {e}"))?;
    let missing = c
        .read_file(&format!("{temp}/nope"))
        .await
        .map_err(|e| format!("read_file of a missing file: {e}"))?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(back.as_deref() == Some(b"contents\n".as_slice()), || {
        format!("read back {back:?}")
    })?;
    ensure(missing.is_none(), || {
        "a missing file read as present".into()
    })?;
    Ok("ok".into())
}

async fn env_file(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let file = format!("{}/envfile", c.paths().temp);
    c.write_file(&file, b"", 0o666)
        .await
        .map_err(|e| format!("write_file: {e}"))?;
    sh(
        &c,
        "echo A=1 >> \"$F\"; printf 'B<<E\\nx\\ny\\nE\\n' >> \"$F\"",
        &[("F", &file)],
        None,
    )
    .await?;
    let back = c
        .read_file(&file)
        .await
        .map_err(|e| format!("read_file: {e}"))?
        .unwrap_or_default();
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(back == b"A=1\nB<<E\nx\ny\nE\n", || {
        format!("env file read back {:?}", String::from_utf8_lossy(&back))
    })?;
    Ok("ok".into())
}

fn tree_tar(big: &[u8]) -> Result<Vec<u8>, String> {
    let mut b = tar::Builder::new(Vec::new());
    let io = |e: std::io::Error| e.to_string();
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    b.append_data(&mut dir.clone(), "tree/", std::io::empty())
        .map_err(io)?;
    b.append_data(&mut dir, "tree/empty/", std::io::empty())
        .map_err(io)?;
    let mut exe = tar::Header::new_gnu();
    exe.set_mode(0o755);
    let script = b"#!/bin/sh\necho run\n";
    exe.set_size(script.len() as u64);
    b.append_data(&mut exe, "tree/run.sh", &script[..])
        .map_err(io)?;
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o644);
    file.set_size(big.len() as u64);
    b.append_data(&mut file, "tree/big.bin", big).map_err(io)?;
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    b.append_link(&mut link, "tree/link", "big.bin")
        .map_err(io)?;
    b.into_inner().map_err(io)
}

async fn copy_round_trip(ctx: Ctx) -> CaseResult {
    let big: Vec<u8> = (0..32u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let digest = hex(&Sha256::digest(&big));
    let archive = tree_tar(&big)?;
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let temp = c.paths().temp;
    c.copy_in(&temp, Box::new(std::io::Cursor::new(archive)))
        .await
        .map_err(|e| format!("copy_in: {e}"))?;
    let check = sh(
        &c,
        "cd \"$T/tree\" && sha256sum big.bin && readlink link && test -d empty && ./run.sh",
        &[("T", &temp)],
        None,
    )
    .await?;
    let mut back = Vec::new();
    let mut reader = c
        .copy_out(&format!("{temp}/tree"))
        .await
        .map_err(|e| format!("copy_out: {e}"))?;
    tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut back)
        .await
        .map_err(|e| format!("reading copy_out: {e}"))?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;

    let text = check.stdout_text();
    ensure(text.contains(&digest), || {
        format!("inside the target: {text:?} (want {digest})")
    })?;
    ensure(text.contains("big.bin\n") && text.contains("run\n"), || {
        format!("symlink or executable lost: {text:?}")
    })?;
    let mut found_big = None;
    let mut found_link = None;
    let mut archive = tar::Archive::new(back.as_slice());
    for entry in archive
        .entries()
        .map_err(|e| format!("copy_out is not a tar: {e}"))?
    {
        let mut entry = entry.map_err(|e| format!("copy_out tar entry: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        if path.trim_end_matches('/') == "tree/big.bin" {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
            found_big = Some(hex(&Sha256::digest(&data)));
        } else if path == "tree/link" {
            found_link = entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned());
        }
    }
    ensure(found_big.as_deref() == Some(digest.as_str()), || {
        format!("copy_out big.bin digest {found_big:?}")
    })?;
    ensure(found_link.as_deref() == Some("big.bin"), || {
        format!("copy_out symlink {found_link:?}")
    })?;
    Ok("32 MiB, symlink, empty dir, executable".into())
}

async fn copy_in_refuses_escape(ctx: Ctx) -> CaseResult {
    let mut header = tar::Header::new_old();
    let name = b"../escaped-by-conformance";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(3);
    header.set_mode(0o644);
    header.set_cksum();
    let mut raw = header.as_bytes().to_vec();
    raw.extend_from_slice(b"bad");
    raw.resize(1024 + 512 * 2, 0);
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let dest = format!("{}/in", c.paths().temp);
    let result = c.copy_in(&dest, Box::new(std::io::Cursor::new(raw))).await;
    let probe = sh(
        &c,
        "test -e \"$T/escaped-by-conformance\" && echo escaped || echo contained",
        &[("T", &c.paths().temp)],
        None,
    )
    .await?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(result.is_err(), || "an entry `../x` was accepted".into())?;
    ensure(probe.stdout_text().trim() == "contained", || {
        "the entry escaped its destination".into()
    })?;
    Ok("refused".into())
}

async fn terminate(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let (tx, rx) = watch::channel(StopLevel::Run);
    let c2 = c.clone();
    let run = tokio::spawn(async move {
        sh(
            &c2,
            "trap 'exit 143' TERM; while :; do sleep 0.1; done",
            &[],
            Some(rx),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = tx.send(StopLevel::Terminate);
    let out = tokio::time::timeout(Duration::from_secs(20), run).await;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    let out = out
        .map_err(|_| "the step did not stop on Terminate".to_string())?
        .map_err(|e| e.to_string())??;
    ensure(out.status.map(|s| s.shell_code()) == Some(143), || {
        format!("status after TERM {:?}", out.status)
    })?;
    Ok("exited 143 on TERM".into())
}

async fn kill_after_ignored_term(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let (tx, rx) = watch::channel(StopLevel::Run);
    let c2 = c.clone();
    let mut run =
        tokio::spawn(async move { sh(&c2, "trap '' TERM; sleep 1000", &[], Some(rx)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = tx.send(StopLevel::Terminate);
    let still = tokio::time::timeout(Duration::from_secs(1), &mut run)
        .await
        .is_err();
    let _ = tx.send(StopLevel::Kill);
    let out = tokio::time::timeout(Duration::from_secs(20), run).await;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(still, || "a step ignoring TERM stopped on TERM".into())?;
    let out = out
        .map_err(|_| "the step did not die on Kill".to_string())?
        .map_err(|e| e.to_string())??;
    ensure(out.status.map(|s| s.shell_code()) == Some(137), || {
        format!("status after KILL {:?}", out.status)
    })?;
    Ok("ignored TERM, died on KILL".into())
}

/// Starts `sleep 1000` in the background, marked with a unique environment variable,
/// and returns the mark.
async fn background_pid(
    c: &std::sync::Arc<dyn gantry_backend::Container>,
) -> Result<String, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mark = format!("{nanos:x}");
    let out = sh(
        c,
        "GANTRY_CONFORMANCE_MARK=$M sleep 1000 >/dev/null 2>&1 & echo $!",
        &[("M", &mark)],
        None,
    )
    .await?;
    ensure(!out.stdout_text().trim().is_empty(), || {
        "no background pid".into()
    })?;
    Ok(mark)
}

/// Whether a live (not zombie) process carrying `mark` is visible from a fresh
/// environment. Marks, not pids: a container backend's fresh environment has its own
/// pid namespace where the same number names another process.
async fn alive_from_fresh_env(ctx: &Ctx, mark: &str) -> Result<bool, String> {
    let env = ctx.env_for(&format!("{}probe", ctx.run_id)).await?;
    let c = ctx.primary(&env).await?;
    let alive = mark_alive(&c, mark).await;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    alive
}

/// Whether `c` sees a live process carrying `mark`.
async fn mark_alive(
    c: &std::sync::Arc<dyn gantry_backend::Container>,
    mark: &str,
) -> Result<bool, String> {
    let script = "for d in /proc/[0-9]*; do if tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null | grep -qx \"GANTRY_CONFORMANCE_MARK=$M\" && ! grep -q '^State:.*Z' \"$d/status\" 2>/dev/null; then echo alive; fi; done; echo done";
    let out = sh(c, script, &[("M", mark)], None).await?;
    let text = out.stdout_text();
    ensure(text.contains("done"), || {
        format!("the probe script failed: {text:?}")
    })?;
    Ok(text.contains("alive"))
}

async fn remove_kills_background(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let pid = background_pid(&c).await?;
    // The check must see the process while it lives, or its later "gone" proves nothing.
    ensure(mark_alive(&c, &pid).await?, || {
        "the background process is not visible".into()
    })?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure(!alive_from_fresh_env(&ctx, &pid).await?, || {
        format!("background process {pid} survived remove()")
    })?;
    Ok("killed".into())
}

async fn health(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let h = c.health().await.map_err(|e| format!("health: {e}"))?;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(matches!(h, Health::Running | Health::Healthy), || {
        format!("a running primary reports {h:?}")
    })?;
    Ok(format!("{h:?}"))
}

async fn remove_idempotent(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    ctx.primary(&env).await?;
    env.remove()
        .await
        .map_err(|e| format!("first remove: {e}"))?;
    env.remove()
        .await
        .map_err(|e| format!("second remove: {e}"))?;
    Ok("ok".into())
}

async fn reap_dead_run(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let pid = background_pid(&c).await?;
    // The run is not live: reap must remove what it left, without remove() ever running.
    let report = ctx
        .backend
        .reap(&[])
        .await
        .map_err(|e| format!("reap: {e}"))?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alive = alive_from_fresh_env(&ctx, &pid).await?;
    let _ = env.remove().await;
    ensure(!alive, || {
        format!("reap left process {pid} alive; it reported {report:?}")
    })?;
    ensure(!report.removed.is_empty(), || {
        "reap reported nothing removed".into()
    })?;
    Ok(format!("{} object(s) removed", report.removed.len()))
}

async fn bad_request(ctx: Ctx) -> CaseResult {
    let env = ctx.env().await?;
    let c = ctx.primary(&env).await?;
    let empty = exec(&c, ExecRequest::new(Vec::new()), None).await;
    let missing = exec(
        &c,
        ExecRequest::new(vec!["/definitely/not/a/program".into()]),
        None,
    )
    .await;
    env.remove().await.map_err(|e| format!("remove: {e}"))?;
    ensure(empty.is_err(), || "an empty argv was accepted".into())?;
    let missing_ok = match &missing {
        Err(_) => true,
        Ok(o) => o
            .status
            .is_some_and(|s| s.shell_code() == 127 || s.shell_code() == 126),
    };
    ensure(missing_ok, || format!("a missing program gave {missing:?}"))?;
    Ok("refused".into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
