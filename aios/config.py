"""Settings: defaults, then a TOML file, then `AIOS_*` environment variables, then command-line flags."""

from __future__ import annotations

import getpass
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aios.daemon_config import DaemonConfig
from aios.isolation.config import AgentsConfig
from aios.kernel.approvals import ApprovalPolicy
from aios.kernel.engines.configs import LocalModelConfig, ModelConfig
from aios.kernel.errors import ConfigError
from aios.kernel.images import ImageLimits
from aios.memory.config import MemorySettings
from aios.tools.browser_config import BrowserConfig
from aios.tools.configs import AnsibleConfig, GuiConfig, KubernetesConfig, ShellConfig
from aios.tools.mcp_config import McpConfig

DEFAULT_CONFIG_PATH = Path("~/.config/aios/config.toml").expanduser()


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(base).expanduser() / "aios"


def _default_owner() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "local"


class Settings(BaseSettings):
    """Everything configurable; see README for the file format."""

    model_config = SettingsConfigDict(env_prefix="AIOS_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Database, per-process work folders and benchmark results live here."""
    database_url: str | None = None
    """Any SQLAlchemy URL; default: SQLite (WAL) at <data_dir>/aios.db."""
    policy: Literal["fifo", "round_robin", "priority", "program_fcfs"] = "program_fcfs"
    """Scheduler policy for LLM calls."""
    slice_tokens: int = Field(default=32, ge=1)
    """round_robin: generated tokens after which a generation yields to waiting calls."""
    kv_policy: Literal["none", "lru", "lru_offload", "pin_inf", "ttl_fixed", "continuum", "ours"] = "ours"
    """What happens to a process's KV cache while it waits on a tool call."""
    default_model: str = "local"
    models: dict[str, ModelConfig] = Field(default_factory=lambda: {"local": LocalModelConfig()})
    shell: ShellConfig = Field(default_factory=ShellConfig)
    browser: BrowserConfig = Field(default_factory=BrowserConfig)
    gui: GuiConfig = Field(default_factory=GuiConfig)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    ansible: AnsibleConfig = Field(default_factory=AnsibleConfig)
    mcp: McpConfig = Field(default_factory=McpConfig)
    """MCP servers used as drivers (`[[mcp.servers]]`)."""
    memory: MemorySettings = Field(default_factory=MemorySettings)
    images: ImageLimits = Field(default_factory=ImageLimits)
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    owner: str = Field(default_factory=_default_owner)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'aios.db'}"

    @property
    def memory_db_url(self) -> str:
        return self.memory.database_url or self.db_url

    @property
    def chroma_path(self) -> Path:
        return self.memory.chroma_path or self.data_dir / "chroma"

    @property
    def socket_path(self) -> Path:
        return self.daemon.socket or self.data_dir / "aios.sock"

    @property
    def cli_token_path(self) -> Path:
        """Where the running daemon leaves an admin token for the local `aios` commands (mode 0600)."""
        return self.data_dir / "cli.token"

    @property
    def workdir_root(self) -> Path:
        return self.data_dir / "work"

    def engine_models(self) -> dict[str, ModelConfig]:
        """Model configs with machine-specific defaults filled in (where local engines keep calibration)."""
        out: dict[str, ModelConfig] = {}
        for name, config in self.models.items():
            if isinstance(config, LocalModelConfig) and config.calibration_file is None:
                config = config.model_copy(
                    update={"calibration_file": str(self.data_dir / "calibration.json")}
                )
            out[name] = config
        return out


def _key(loc: tuple[int | str, ...]) -> str:
    """A dotted config key from a pydantic error location, without the model-kind tag pydantic inserts."""
    parts = list(loc)
    if len(parts) > 2 and parts[0] == "models" and parts[2] in ("local", "litellm"):
        del parts[2]
    return ".".join(str(p) for p in parts)


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings; a named file must exist, the default one may be absent; errors name the key."""
    path = config_path.expanduser() if config_path else DEFAULT_CONFIG_PATH
    if config_path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.is_file():
        try:
            tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
    bound = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": path}})
    try:
        settings = bound(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        problems = "; ".join(f"{_key(err['loc'])}: {err['msg']}" for err in e.errors()[:5])
        raise ConfigError(
            f"invalid configuration (file {path}, AIOS_* environment, flags): {problems}"
        ) from e
    if settings.default_model not in settings.models and "/" not in settings.default_model:
        raise ConfigError(
            f"default_model: {settings.default_model!r} is not a configured model "
            f"(configured: {sorted(settings.models)})"
        )
    return settings
