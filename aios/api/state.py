"""What the API's routes reach: the kernel and the token books, held by the app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from aios.isolation.channels import AgentChannels
from aios.kernel.contracts import KernelAPI


@dataclass
class ApiState:
    kernel: KernelAPI
    channels: AgentChannels


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.aios
    return state
