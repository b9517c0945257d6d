"""Configuration precedence (defaults < TOML < AIOS_* < flags) and clear errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from aios.config import load_settings
from aios.kernel.engines.configs import LocalModelConfig
from aios.kernel.engines.litellm_engine import RemoteModelConfig
from aios.kernel.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("AIOS_")]:
        monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    assert settings.policy == "program_fcfs"
    assert settings.kv_policy == "ours"
    assert settings.default_model == "local"
    assert isinstance(settings.models["local"], LocalModelConfig)
    assert settings.shell.allow_unsandboxed is False
    assert settings.db_url.startswith("sqlite:///") and settings.db_url.endswith("aios.db")


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        """
policy = "round_robin"
[shell]
timeout_s = 5
cpu_seconds = 3
[models.local]
kind = "local"
n_ctx = 4096
[models.gpt]
kind = "litellm"
model = "openai/gpt-4o-mini"
api_key = "sk-secret"
""",
    )
    settings = load_settings(path)
    assert settings.policy == "round_robin"
    assert settings.shell.timeout_s == 5 and settings.shell.cpu_seconds == 3
    assert isinstance(settings.models["local"], LocalModelConfig) and settings.models["local"].n_ctx == 4096
    gpt = settings.models["gpt"]
    assert isinstance(gpt, RemoteModelConfig) and gpt.model == "openai/gpt-4o-mini"
    assert "sk-secret" not in repr(gpt)

    monkeypatch.setenv("AIOS_POLICY", "priority")
    monkeypatch.setenv("AIOS_SHELL__TIMEOUT_S", "7")
    settings = load_settings(path)
    assert settings.policy == "priority" and settings.shell.timeout_s == 7
    assert settings.shell.cpu_seconds == 3  # untouched keys still come from the file

    settings = load_settings(path, policy="fifo")
    assert settings.policy == "fifo"


def test_invalid_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models\.local\.n_ctx: Input should be greater"):
        load_settings(write(tmp_path, "[models.local]\nkind = 'local'\nn_ctx = 10\n"))
    with pytest.raises(ConfigError, match="policy"):
        load_settings(write(tmp_path, "policy = 'lottery'\n"))


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"shell\.sandboxxx"):
        load_settings(write(tmp_path, "[shell]\nsandboxxx = true\n"))


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "policy = \n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_default_model_must_be_configured(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="default_model: 'gpt' is not a configured model"):
        load_settings(write(tmp_path, "default_model = 'gpt'\n"))
    assert load_settings(write(tmp_path, "default_model = 'openai/gpt-4o-mini'\n")).default_model


def test_the_readme_configuration_example_loads(tmp_path: Path) -> None:
    """The documented file is a real one: every key in it exists and every value is valid."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Configuration") :]
    start = section.index("```toml") + len("```toml")
    example = tmp_path / "config.toml"
    example.write_text(section[start : section.index("```", start)])
    settings = load_settings(example)
    assert settings.browser.allow_hosts == ["127.0.0.1", "localhost"] and settings.ansible.sandbox_check
