"""The shell driver's bubblewrap sandbox, for real: escapes are refused, limits hold."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import threading
from pathlib import Path

import pytest

from aios.kernel.drivers import CallContext
from aios.kernel.errors import SandboxUnavailable, ToolTimeout
from aios.tools.sandbox import find_bwrap
from aios.tools.sandbox_user import UID_RANGE, for_process
from aios.tools.shell import ExecArgs, ShellConfig, ShellDriver

# CI installs bubblewrap, so there a missing sandbox fails these tests instead of skipping them
pytestmark = pytest.mark.skipif(
    find_bwrap() is None and not os.environ.get("CI"), reason="bubblewrap is not installed"
)


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "notes.txt").write_text("one\ntwo\n")
    return folder


@pytest.fixture
def ctx(tmp_path: Path) -> CallContext:
    work = tmp_path / "work"
    work.mkdir()
    return CallContext(pid=1, workdir=work)


async def sh(driver: ShellDriver, ctx: CallContext, cmd: str) -> dict:
    return await driver.call("exec", ExecArgs(cmd=cmd), ctx)


async def test_runs_as_a_uid_that_owns_nothing_without_capabilities(user_dir: Path, ctx: CallContext) -> None:
    driver = ShellDriver(cwd=user_dir)
    assert await driver.mode() == "bubblewrap"
    out = await sh(driver, ctx, "id -u; id -g; grep CapEff /proc/self/status; pwd; cat notes.txt | wc -l")
    assert out["exit_code"] == 0, out
    lines = out["stdout"].split()
    uid = for_process(ctx.pid).inside
    assert lines[:2] == [str(uid), str(uid)]
    if os.geteuid() == 0:  # run as root, the sandbox is a uid of the process's own, not root renamed
        assert uid in UID_RANGE
    assert "CapEff:" in out["stdout"] and "0000000000000000" in out["stdout"]
    assert str(user_dir) in out["stdout"] and lines[-1] == "2"
    assert out["sandbox"] == "bubblewrap"


async def test_writes_only_land_in_the_private_work_dir(user_dir: Path, ctx: CallContext) -> None:
    driver = ShellDriver(cwd=user_dir)
    out = await sh(driver, ctx, "echo data > /workspace/result.txt && cat /workspace/result.txt")
    assert out["exit_code"] == 0 and out["stdout"] == "data\n"
    assert (ctx.workdir / "result.txt").read_text() == "data\n"
    for target in (f"{user_dir}/new.txt", "/etc/evil", "/usr/evil", "/opt/evil"):
        refused = await sh(driver, ctx, f"touch {target}")
        assert refused["exit_code"] != 0, target
    assert not (user_dir / "new.txt").exists()
    assert not Path("/etc/evil").exists()
    tmp = await sh(driver, ctx, "echo x > /tmp/scratch && cat /tmp/scratch")
    assert tmp["stdout"] == "x\n"


async def test_home_and_secrets_are_not_readable(user_dir: Path, ctx: CallContext) -> None:
    home = Path.home()
    fd, secret_path = tempfile.mkstemp(dir=home, prefix="aios-secret-")
    os.write(fd, b"top secret")
    os.close(fd)
    try:
        driver = ShellDriver(cwd=user_dir)
        out = await sh(driver, ctx, f"cat {secret_path}; ls -A {home} | wc -l; cat /etc/shadow | wc -c")
        assert "top secret" not in out["stdout"]
        assert "No such file" in out["stderr"]
        assert out["stdout"].split() == ["0", "0"]
    finally:
        os.unlink(secret_path)


async def test_no_network_even_to_loopback(user_dir: Path, ctx: CallContext) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        server.settimeout(1)
        with contextlib.suppress(OSError):
            accepted.append(server.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        driver = ShellDriver(cwd=user_dir)
        script = (
            f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2); print('connected')"
        )
        out = await sh(driver, ctx, f'python3 -c "{script}"')
        assert out["exit_code"] != 0 and "connected" not in out["stdout"]
        resolve = await sh(driver, ctx, "python3 -c \"import socket; socket.getaddrinfo('pypi.org', 443)\"")
        assert resolve["exit_code"] != 0
    finally:
        server.close()
        thread.join()
    assert accepted == []


async def test_wall_clock_timeout(user_dir: Path, ctx: CallContext) -> None:
    driver = ShellDriver(ShellConfig(timeout_s=1), cwd=user_dir)
    with pytest.raises(ToolTimeout, match="ran past 1s"):
        await sh(driver, ctx, "sleep 30")


async def test_cpu_memory_and_output_limits(user_dir: Path, ctx: CallContext) -> None:
    driver = ShellDriver(
        ShellConfig(cpu_seconds=1, memory_mb=256, output_bytes=1000, timeout_s=20), cwd=user_dir
    )
    spin = await sh(driver, ctx, "python3 -c 'while True: pass'")
    assert spin["exit_code"] != 0 and spin["duration_ms"] < 15000
    memory = await sh(driver, ctx, "python3 -c 'x = bytearray(600 * 1024 * 1024)'")
    assert memory["exit_code"] != 0 and "MemoryError" in memory["stderr"]
    flood = await sh(driver, ctx, "yes aios")
    assert flood["truncated"] is True and len(flood["stdout"]) == 1000


async def test_refuses_to_run_unsandboxed_unless_allowed(user_dir: Path, ctx: CallContext) -> None:
    missing = ShellDriver(ShellConfig(bwrap="/nonexistent/bwrap"), cwd=user_dir)
    assert await missing.mode() == "unavailable"
    assert not (await missing.health()).ok
    with pytest.raises(SandboxUnavailable, match="allow_unsandboxed"):
        await sh(missing, ctx, "true")
    allowed = ShellDriver(ShellConfig(bwrap="/nonexistent/bwrap", allow_unsandboxed=True), cwd=user_dir)
    assert await allowed.mode() == "unsandboxed"
    assert "UNSANDBOXED" in (await allowed.health()).detail
    out = await sh(allowed, ctx, "pwd")
    assert out["sandbox"] == "unsandboxed" and out["stdout"].strip() == str(ctx.workdir)


async def test_setuid_files_left_in_the_work_dir_lose_the_bit(user_dir: Path, ctx: CallContext) -> None:
    driver = ShellDriver(cwd=user_dir)
    out = await sh(driver, ctx, "cp /bin/sh /workspace/rootsh && chmod 6755 /workspace/rootsh && echo made")
    assert out["stdout"] == "made\n", out
    mode = (ctx.workdir / "rootsh").stat().st_mode
    assert mode & 0o6000 == 0 and mode & 0o755 == 0o755


async def test_kernel_environment_is_not_readable_through_proc(
    user_dir: Path, ctx: CallContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bubblewrap is pid 1 inside the sandbox: its environment must not be the kernel's (API keys)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-aios-test-leak")
    driver = ShellDriver(cwd=user_dir)
    out = await sh(driver, ctx, "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done")
    assert "PATH=" in out["stdout"]  # the environments were readable: the check below looked at them
    assert "sk-aios-test-leak" not in out["stdout"]


async def test_no_nested_user_namespaces(user_dir: Path, ctx: CallContext) -> None:
    """`unshare -r` would make the command root of a namespace of its own, with every capability in it."""
    driver = ShellDriver(cwd=user_dir)
    out = await sh(driver, ctx, "unshare -r id -u")
    assert out["exit_code"] != 0 and out["stdout"] == "", out


async def test_secret_files_in_the_users_folder_read_empty(user_dir: Path, ctx: CallContext) -> None:
    (user_dir / ".env").write_text("OPENAI_API_KEY=sk-env-file\n")
    (user_dir / "deploy").mkdir()
    (user_dir / "deploy" / "id_ed25519").write_text("PRIVATE KEY\n")
    (user_dir / ".aws").mkdir()
    (user_dir / ".aws" / "credentials").write_text("aws_secret_access_key=abc\n")
    (user_dir / "config").mkdir()
    (user_dir / "config" / "prod.conf").write_text("password=hunter2\n")
    (user_dir / "config" / ".env.local").symlink_to(user_dir / "config" / "prod.conf")
    driver = ShellDriver(cwd=user_dir)
    out = await sh(
        driver,
        ctx,
        "cat .env deploy/id_ed25519 config/.env.local config/prod.conf notes.txt; ls -A .aws | wc -l; ls -A",
    )
    for secret in ("sk-env-file", "PRIVATE KEY", "aws_secret", "hunter2"):
        assert secret not in out["stdout"], out
    assert "one\ntwo\n" in out["stdout"]  # ordinary files are still there
    assert ".env" in out["stdout"].split()  # secrets show as empty, not as missing
    opened = ShellDriver(ShellConfig(hidden_files=[]), cwd=user_dir)
    assert "sk-env-file" in (await sh(opened, ctx, "cat .env"))["stdout"]


async def test_the_runtimes_data_dir_is_hidden_inside_the_users_folder(
    user_dir: Path, ctx: CallContext
) -> None:
    """`aios serve` started in the folder that holds its data dir: the database and the CLI's admin token
    are there, and must not be readable by an agent's commands."""
    data = user_dir / "aios-data"
    data.mkdir()
    (data / "cli.token").write_text("aiosu_admin")
    (data / "aios.db").write_text("every process's results")
    driver = ShellDriver(cwd=user_dir, private=(data,))
    out = await sh(driver, ctx, "ls -A aios-data | wc -l; cat aios-data/aios.db aios-data/cli.token")
    assert out["stdout"].split()[0] == "0" and "results" not in out["stdout"] and "aiosu" not in out["stdout"]


def _children() -> list[int]:
    """This test process's live children (a probe or a command the driver started)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("when", ["probing", "running"])
async def test_a_call_killed_midway_leaves_no_process_behind(
    user_dir: Path, ctx: CallContext, tmp_path: Path, when: str
) -> None:
    """A kill that lands while the sandbox is probed (the first call) or while the command runs returns
    only once what the driver started is gone: nothing exits later, after its event loop has closed."""
    bwrap = find_bwrap()
    assert bwrap is not None
    slow = tmp_path / "slow-bwrap"  # a sandbox that takes its time to start: the kill lands in the probe
    script = f'for a; do last=$a; done\n[ "$last" = true ] && sleep 600\nexec {bwrap} "$@"\n'
    slow.write_text("#!/bin/sh\n" + script)
    slow.chmod(0o755)
    driver = ShellDriver(ShellConfig(bwrap=str(slow) if when == "probing" else bwrap), cwd=user_dir)
    before = set(_children())
    call = asyncio.ensure_future(sh(driver, ctx, "sleep 600"))
    deadline = asyncio.get_running_loop().time() + 10
    while not set(_children()) - before:
        assert asyncio.get_running_loop().time() < deadline, "the driver started no process"
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.2)  # the command (or the probe) is under way, not just forked
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert set(_children()) - before == set()
