"""Path parameters every route shares: ids are positive and fit the database's integers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_ID = 2**62
Id = Annotated[int, Path(ge=1, le=MAX_ID, description="A positive id")]
