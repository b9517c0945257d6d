"""The two action spaces of OSWorld, carried out on the task's display from inside its sandbox."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel

from aios.evals.osworld.guest import CommandResult, Guest

SPECIAL = ("WAIT", "FAIL", "DONE")
"""Actions that are not code: pause a step, give up (the right answer to an infeasible task), finish."""
PREAMBLE = "import pyautogui, time\npyautogui.FAILSAFE = False\npyautogui.PAUSE = 0.05\n"
STEP_TIMEOUT_S = 60.0


class ActionResult(BaseModel):
    ok: bool
    error: str = ""


_KEY_ACTIONS = {"PRESS": "press", "KEY_DOWN": "keyDown", "KEY_UP": "keyUp"}
_POINTER_ACTIONS = {
    "MOVE_TO": "moveTo",
    "CLICK": "click",
    "MOUSE_DOWN": "mouseDown",
    "MOUSE_UP": "mouseUp",
    "RIGHT_CLICK": "rightClick",
    "DOUBLE_CLICK": "doubleClick",
    "DRAG_TO": "dragTo",
}


def computer_13_code(action: dict[str, Any]) -> str:
    """pyautogui code for one computer_13 action (`{"action_type": ..., "parameters": {...}}`)."""
    kind = action.get("action_type", "")
    p = dict(action.get("parameters") or {})
    if kind in _POINTER_ACTIONS:
        args = [repr(p.pop(k)) for k in ("x", "y") if k in p]
        kwargs = [f"{k}={v!r}" for k, v in p.items()]
        if kind == "DRAG_TO":
            kwargs.append("button='left'")
        return f"pyautogui.{_POINTER_ACTIONS[kind]}({', '.join(args + kwargs)})"
    if kind == "SCROLL":
        dx, dy = int(p.get("dx", 0)), int(p.get("dy", 0))
        return "\n".join(
            line
            for line in (f"pyautogui.hscroll({dx})" if dx else "", f"pyautogui.scroll({dy})" if dy else "")
            if line
        )
    if kind == "TYPING":
        return f"pyautogui.write({str(p['text'])!r}, interval=0.01)"
    if kind in _KEY_ACTIONS:
        return f"pyautogui.{_KEY_ACTIONS[kind]}({str(p['key'])!r})"
    if kind == "HOTKEY":
        return f"pyautogui.hotkey({', '.join(repr(str(k)) for k in p['keys'])})"
    raise ValueError(f"unknown computer_13 action {kind!r}")


def normalize(action: Any, action_space: str) -> str:
    """An agent's action as the pyautogui code (or special word) the runner executes and records."""
    if isinstance(action, str) and action.strip() in SPECIAL:
        return action.strip()
    if action_space == "computer_13":
        if isinstance(action, str):
            action = json.loads(action)
        if isinstance(action, dict) and action.get("action_type") in SPECIAL:
            return str(action["action_type"])
        return computer_13_code(action)
    if not isinstance(action, str):
        raise ValueError(f"a pyautogui action is a string of code, not {type(action).__name__}")
    return action


def execute(guest: Guest, code: str, *, timeout_s: float = STEP_TIMEOUT_S) -> ActionResult:
    """Run pyautogui code in the task's sandbox, on the task's display: never on the user's screen."""
    result: CommandResult = guest.run([sys.executable, "-I", "-c", PREAMBLE + code], timeout_s=timeout_s)
    if result.timed_out:
        return ActionResult(ok=False, error=f"the action ran past {timeout_s:.0f}s and was stopped")
    if result.returncode != 0:
        return ActionResult(ok=False, error=result.stderr.strip()[-1000:])
    return ActionResult(ok=True)
