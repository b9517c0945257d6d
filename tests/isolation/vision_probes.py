"""Isolated agents that show a model images from their work folder, or try to show it files outside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

from aios.sdk import Agent, Context, InvalidSyscall, Manifest, user

NOISE_SIZE = (700, 600)
"""Random pixels do not compress: the PNG is over a megabyte, more than a syscall's body may carry."""


class Looker(Agent):
    """Takes a screenshot and paints a picture in its work folder, then shows both to the model by path.

    `task` is a JSON object: `model`, the model to ask.
    """

    manifest = Manifest(name="looker", capabilities=("llm", "gui.screenshot"))

    async def run(self, task: str, ctx: Context) -> str:
        spec = json.loads(task)
        shot = await ctx.tool("gui.screenshot")
        noise = Image.frombytes("RGB", NOISE_SIZE, os.urandom(NOISE_SIZE[0] * NOISE_SIZE[1] * 3))
        noise.save("/workspace/noise.png")
        answer = await ctx.llm(
            [user("What do you see?", shot, "/workspace/noise.png")], model=spec["model"], max_tokens=16
        )
        return json.dumps({"shot": shot["path"], "answer": answer.content})


class Trespasser(Agent):
    """Names images outside its work folder, some through links it plants there, and says how each was
    refused.

    `task` is a JSON object: `model`, and `private`, a file only root may read.
    """

    manifest = Manifest(name="trespasser", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        spec = json.loads(task)
        Path("/workspace/private.png").symlink_to(spec["private"])
        Path("/workspace/shadow.png").symlink_to("/etc/shadow")
        Path("/workspace/etc").symlink_to("/etc")
        refusals: dict[str, str] = {}
        for path in (
            "/etc/passwd",
            "../noise.png",
            "/workspace/../etc/passwd",
            "/workspace/private.png",
            "shadow.png",
            "etc/passwd",
        ):
            try:
                await ctx.llm([user("What do you see?", path)], model=spec["model"], max_tokens=16)
            except InvalidSyscall as e:
                refusals[path] = str(e)
            else:
                refusals[path] = "accepted"
        return json.dumps(refusals)
