"""OSWorld's VS Code metrics and getter: settings and keybindings files, extensions, the files a task's
code writes, and the task's own test suite run against the agent's code."""

from __future__ import annotations

import difflib
import io
import json
import logging
import uuid
import zipfile
from pathlib import Path
from typing import Any

from aios.evals.osworld.actions import PREAMBLE
from aios.evals.osworld.getters import TASK_COMPUTER, Getter, GetterContext, vm_file
from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.result_files import read_text
from aios.evals.osworld.unsupported import Unsupported

log = logging.getLogger(__name__)

TEST_SUITE_TIMEOUT_S = 120.0


def compare_config(result: str | None, rules: dict[str, Any], **options: Any) -> float:
    """The whole file equals the expected text, byte for byte after decoding."""
    text = read_text(result)
    return float(text is not None and text == rules["expected"])


def is_extension_installed(result: str | None, rules: dict[str, Any], **options: Any) -> float:
    """A command's output contains (or, with `not_contain`, lacks) the expected text."""
    if rules.get("type") not in ("contain", "not_contain"):
        raise Unsupported(f"metric:is_extension_installed:{rules.get('type')}")
    if result is None:
        return 0.0
    return float((rules["expected"] in result) == (rules["type"] == "contain"))


def _load_json(path: str | None, *, skip_first_line: bool = False) -> Any:
    text = read_text(path)
    if text is None:
        return None
    if skip_first_line:
        text = text.split("\n", 1)[1] if "\n" in text else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def check_json_settings(result: str | None, rules: dict[str, Any], **options: Any) -> float:
    """Every expected top-level key holds exactly the expected value; other keys may be anything."""
    data = _load_json(result)
    if not isinstance(data, dict):
        return 0.0
    return float(all(key in data and data[key] == value for key, value in rules["expected"].items()))


def check_json_keybindings(result: str | None, rules: dict[str, Any], **options: Any) -> float:
    """The expected binding is one of the file's entries (VS Code starts the file with a comment line)."""
    for skip in (False, True):
        bindings = _load_json(result, skip_first_line=skip)
        if isinstance(bindings, list):
            return float(rules["expected"] in bindings)
    return 0.0


def compare_result_files(result: str | None, expected: str | None) -> float:
    """Numbers match within 1e-4 or appear verbatim in the result (it may add words); else the same text."""
    mine, theirs = read_text(result), read_text(expected)
    if mine is None or theirs is None:
        return 0.0
    mine, theirs = mine.strip(), theirs.strip()
    try:
        target = float(theirs)
    except ValueError:
        return float(mine == theirs)
    if theirs in mine:
        return 1.0
    try:
        return float(abs(float(mine) - target) < 1e-4)
    except ValueError:
        return 0.0


def _pdf_text(data: bytes) -> str | None:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    except (PdfReadError, ValueError):
        return None


def _same_member(name: str, mine: bytes, theirs: bytes) -> bool:
    """PDFs need only 95% alike text: a re-exported PDF differs in bytes, not in what it says."""
    if not name.lower().endswith(".pdf"):
        return mine == theirs
    mine_text, theirs_text = _pdf_text(mine), _pdf_text(theirs)
    if mine_text is None or theirs_text is None:
        return False
    return difflib.SequenceMatcher(None, mine_text, theirs_text).ratio() >= 0.95


def compare_zip_files(result: str | None, expected: str | None, **options: Any) -> float:
    """Same member names; same bytes, or for PDFs nearly the same text."""
    if not result or not expected or not Path(result).is_file():
        return 0.0
    try:
        with zipfile.ZipFile(result) as mine, zipfile.ZipFile(expected) as theirs:
            names = set(mine.namelist())
            if names != set(theirs.namelist()):
                return 0.0
            return float(all(_same_member(n, mine.read(n), theirs.read(n)) for n in names))
    except (zipfile.BadZipFile, OSError):
        return 0.0


_RUN_TEST = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("dynamic_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["dynamic_module"] = module
spec.loader.exec_module(module)
try:
    passed = getattr(module, sys.argv[2])()
except Exception:
    passed = False
sys.exit(0 if passed else 1)
"""


def check_python_file_by_test_suite(result: Any, test_file: str | None, **options: Any) -> float:
    """The task's test function returns true. It imports the agent's code, so it runs where that code was
    written, inside the task's computer (OSWorld runs it on its host), and a hang ends at a timeout."""
    files = result if isinstance(result, list) else [result]
    if not test_file or not Path(test_file).is_file() or any(not f or not Path(f).is_file() for f in files):
        return 0.0
    computer = TASK_COMPUTER.get()
    if computer is None:
        raise Unsupported("metric:check_python_file_by_test_suite", "runs agents' code: in a task computer")
    folder = f"/tmp/.aios-test-suite-{uuid.uuid4().hex}"
    for path in [*files, test_file]:
        computer.write_file(f"{folder}/{Path(path).name}", Path(path).read_bytes())
    script = 'cd "$1" && shift && PYTHONPATH="$PWD" SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy python3 "$@"'
    suite, function = f"{folder}/{Path(test_file).name}", options.get("test_function_name", "test")
    command = ["/bin/sh", "-c", script, "sh", folder, "-c", _RUN_TEST, suite, function]
    ran = computer.run(command, timeout_s=TEST_SUITE_TIMEOUT_S)
    if ran.timed_out:
        log.info("test suite %s ran past %ss", test_file, TEST_SUITE_TIMEOUT_S)
    return float(ran.returncode == 0 and not ran.timed_out)


def vscode_config(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """Run a VS Code command from its palette (an extension in the image writes the file), then copy it."""
    keys = (
        "pyautogui.hotkey('ctrl', 'shift', 'p')\n"
        f"pyautogui.write({str(config['vscode_extension_command'])!r})\n"
        "pyautogui.press('enter')\ntime.sleep(1.0)\n"
    )
    ctx.guest.run(["python3", "-c", PREAMBLE + keys], timeout_s=60)
    return vm_file(ctx, {"path": config["path"], "dest": config["dest"]})  # type: ignore[return-value]


METRICS: dict[str, Metric] = {
    "compare_config": compare_config,
    "is_extension_installed": is_extension_installed,
    "check_json_settings": check_json_settings,
    "check_json_keybindings": check_json_keybindings,
    "compare_result_files": compare_result_files,
    "compare_zip_files": compare_zip_files,
    "check_python_file_by_test_suite": check_python_file_by_test_suite,
}
GETTERS: dict[str, Getter] = {"vscode_config": vscode_config}
