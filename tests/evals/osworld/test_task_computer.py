"""The task computer: every getter against a real one, and what a task can and cannot reach from it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from aios.evals.osworld import setup_steps
from aios.evals.osworld.accessibility import linearize, start_bus, tree_xml
from aios.evals.osworld.actions import execute
from aios.evals.osworld.apps import CODE_SERVER
from aios.evals.osworld.catalog import get
from aios.evals.osworld.chrome import TaskBrowser
from aios.evals.osworld.getters import GETTERS, GetterContext
from aios.evals.osworld.guest import Guest, GuestConfig
from aios.evals.osworld.scoring import score
from aios.evals.osworld.setup_steps import StepContext, run_steps
from aios.evals.osworld.task import Evaluator, Step
from aios.evals.osworld.unsupported import NeedsNetwork, SetupFailed, Unsupported
from aios.tools.xclient import XSession
from tests.fakes import until
from tests.sandbox_bounds import cgroup_tree


@pytest.fixture(scope="module")
def guest() -> Iterator[Guest]:
    computer = Guest(GuestConfig())
    computer.start()
    start_bus(computer)
    yield computer
    computer.stop()


@pytest.fixture(scope="module")
def x(guest: Guest) -> Iterator[XSession]:
    session = XSession(guest.display_name, focus_timeout_s=10)
    yield session
    session.close()


def _ctx(guest: Guest, tmp_path: Path, cache: Path | None = None) -> GetterContext:
    browser = TaskBrowser(guest.sandbox_pid)
    return GetterContext(guest, tmp_path, cache, lambda: browser, lambda: tree_xml(guest), guest.terminal_log)


def _steps(guest: Guest, x: XSession, cache: Path | None = None) -> StepContext:
    return StepContext(guest, x, TaskBrowser(guest.sandbox_pid), cache)


async def _wait(check: Any, what: str) -> Any:
    return await until(check, what)


def test_file_and_command_getters(guest: Guest, tmp_path: Path) -> None:
    ctx = _ctx(guest, tmp_path)
    guest.write_file("/home/user/Documents/a.txt", b"alpha\n")
    book = openpyxl.Workbook()
    book.active.append(["x", 1])
    book.active.append(["y", 2])
    data = io.BytesIO()
    book.save(data)
    guest.write_file("/home/user/sheet.xlsx", data.getvalue())

    copied = get(ctx, {"type": "vm_file", "path": "/home/user/Documents/a.txt", "dest": "a.txt"})
    assert Path(copied).read_text() == "alpha\n"
    assert get(ctx, {"type": "vm_file", "path": "/home/user/none.txt", "dest": "none.txt"}) is None
    many = {
        "type": "vm_file",
        "multi": True,
        "path": ["Documents/a.txt", "/nope"],
        "dest": ["m1", "m2"],
        "gives": [0, 1],
    }
    assert [p and Path(p).name for p in get(ctx, many)] == ["m1", None]
    last = {
        "type": "content_from_vm_file",
        "path": "/home/user/sheet.xlsx",
        "file_type": "xlsx",
        "file_content": "last_row",
    }
    assert get(ctx, last) == ["y", "2"]
    assert (
        get(ctx, {"type": "vm_command_line", "command": "echo out; echo err >&2", "shell": True}) == "out\n"
    )
    assert (
        get(ctx, {"type": "vm_command_error", "command": "echo out; echo err >&2", "shell": True}) == "err\n"
    )
    assert get(ctx, {"type": "vm_command_line", "command": ["printf", "%s", "list form"]}) == "list form"

    guest.run("mkdir -p ~/tree/sub && touch ~/tree/f1 ~/tree/sub/f2")
    tree = get(ctx, {"type": "list_directory", "path": "/home/user/tree"})
    assert tree == {
        "type": "directory",
        "name": "tree",
        "children": [
            {"type": "file", "name": "f1"},
            {"type": "directory", "name": "sub", "children": [{"type": "file", "name": "f2"}]},
        ],
    }
    assert get(ctx, {"type": "list_directory", "path": "/home/user/absent"}) is None  # as OSWorld


def test_rule_cache_and_cloud_getters(guest: Guest, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "expected.txt").write_text("E")
    ctx = _ctx(guest, tmp_path, cache)
    assert get(ctx, {"type": "rule", "rules": {"expected": "x"}}) == {"expected": "x"}
    url = "https://files.example.org/data/expected.txt"
    assert Path(get(ctx, {"type": "cloud_file", "path": url, "dest": "e.txt"})).read_text() == "E"
    assert Path(get(ctx, {"type": "cache_file", "path": "expected.txt"})).read_text() == "E"
    with pytest.raises(NeedsNetwork, match=r"not in the cache: https://files\.example\.org/other\.txt"):
        get(ctx, {"type": "cloud_file", "path": "https://files.example.org/other.txt", "dest": "o.txt"})
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    relative = {  # OSWorld's vocabulary, as its flight-search tasks write it
        "type": "rule_relativeTime",
        "rules": {"relativeTime": {"from": "tomorrow"}, "expected": {"time": "{Year}-{Month0D}-{Day0D}"}},
    }
    assert get(ctx, relative)["expected"] == {"time": tomorrow.strftime("%Y-%m-%d")}
    with pytest.raises(Unsupported, match="getter:moon_phase"):
        get(ctx, {"type": "moon_phase"})


async def test_terminal_browser_and_accessibility_getters(guest: Guest, x: XSession, tmp_path: Path) -> None:
    ctx = _ctx(guest, tmp_path)
    guest.launch(["gnome-terminal", "--", "sh", "-c", "echo from-the-terminal; sleep 600"])
    await _wait(lambda: "from-the-terminal" in get(ctx, {"type": "vm_terminal_output"}), "the terminal's log")

    guest.write_file(
        "/home/user/site/a.html", b"<html><title>Page A</title><body><h1>Alpha heading</h1></body></html>"
    )
    guest.write_file("/home/user/site/b.html", b"<html><title>Page B</title><body>beta</body></html>")
    tabs = ["file:///home/user/site/a.html", "file:///home/user/site/b.html"]
    run_steps([Step(type="chrome_open_tabs", parameters={"urls_to_open": tabs})], _steps(guest, x))
    assert get(ctx, {"type": "active_url_from_accessTree"}) == tabs[1]
    active = get(ctx, {"type": "active_tab_info"})
    assert active["url"] == tabs[1] and active["title"] == "Page B" and "beta" in active["content"]
    assert {"title": "Page A", "url": tabs[0]} in get(ctx, {"type": "open_tabs_info"})
    run_steps([Step(type="chrome_close_tabs", parameters={"urls_to_close": ["b.html"]})], _steps(guest, x))
    await _wait(lambda: get(ctx, {"type": "active_url_from_accessTree"}) == tabs[0], "tab b to close")
    assert "Alpha heading" in get(ctx, {"type": "active_tab_html"})
    tree = await _wait(
        lambda: (t := get(ctx, {"type": "accessibility_tree"})) and "Alpha heading" in t and t,
        "the page in the accessibility tree",
    )
    assert tree.startswith("<desktop-frame") and 'name="Chromium"' in tree
    table = linearize(tree)
    assert table.splitlines()[0].startswith("tag\tname\ttext") and "Alpha heading" in table


async def test_pyautogui_types_what_it_is_given(guest: Guest, x: XSession) -> None:
    """On Xvfb's default keyboard map pyautogui typed `<` as `>` (Shift on the 105-key extra key)."""
    guest.launch(["xterm", "-title", "typing", "-e", "sh", "-c", 'read line; echo "$line" > ~/typed.txt'])
    run_steps([Step(type="activate_window", parameters={"window_name": "typing"})], _steps(guest, x))
    assert execute(guest, "pyautogui.write('wc -l < a > b | c', interval=0.01); pyautogui.press('enter')").ok
    typed = await _wait(lambda: guest.read_file("/home/user/typed.txt"), "the typed line")
    assert typed == b"wc -l < a > b | c\n"


def test_every_getter_is_exercised_here() -> None:
    source = Path(__file__).read_text()
    assert [name for name in GETTERS if f'"{name}"' not in source] == []


def test_setup_steps_fail_clearly(guest: Guest, x: XSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(setup_steps, "WINDOW_TIMEOUT_S", 0.5)
    missing_window = [
        Step(type="activate_window", parameters={"window_name": "nowhere"}),
        Step(type="close_window", parameters={"window_name": "nowhere"}),
        Step(type="execute", parameters={"command": "touch ~/went-on"}),
    ]
    run_steps(missing_window, _steps(guest, x))  # logged, as OSWorld does; the task goes on
    assert guest.read_file("/home/user/went-on") == b""
    download = [
        Step(type="download", parameters={"files": [{"url": "https://example.org/a.iso", "path": "a"}]})
    ]
    with pytest.raises(NeedsNetwork):
        run_steps(download, _steps(guest, x))
    upload = [
        Step(type="upload_file", parameters={"files": [{"local_path": "/definitely/missing", "path": "x"}]})
    ]
    with pytest.raises(SetupFailed, match=r"step 1 \(upload_file\)"):
        run_steps(upload, _steps(guest, x))


def test_the_task_is_user_in_its_own_home_with_a_sudo_that_grants_nothing(guest: Guest) -> None:
    me = guest.run("whoami; echo $HOME; pwd; hostname")
    assert me.stdout.split() == ["user", "/home/user", "/home/user", "ubuntu"]
    # OSWorld's setup steps drive the screen with `python -c "import pyautogui; ..."`
    screen = guest.run("""python -c 'import pyautogui; print(tuple(pyautogui.size()))'""")
    assert screen.stdout == "(1920, 1080)\n", screen.stderr
    assert guest.run("echo password | sudo -S whoami").stdout == "user\n"
    wrong = guest.run("echo hunter2 | sudo -S whoami")
    assert wrong.returncode == 1 and "Sorry, try again." in wrong.stderr
    denied = guest.run("echo password | sudo -S touch /etc/owned")
    assert denied.returncode != 0 and not Path("/etc/owned").exists()


def test_a_task_cannot_reach_the_network_the_users_home_or_the_hosts_processes(guest: Guest) -> None:
    secret = Path.home() / f".aios-osworld-secret-{os.getpid()}"
    secret.write_text("private")
    host_sleeper = subprocess.Popen(["sleep", "300"])
    try:
        probe = (
            f"cat {secret} 2>&1; ls /root 2>&1 | wc -l; "
            "pkill -x sleep; "
            "/usr/bin/python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=3)' "
            "2>&1 | tail -1"
        )
        out = guest.run(probe).stdout
        assert "private" not in out and "No such file" in out
        assert "Network is unreachable" in out
        assert host_sleeper.poll() is None  # its pkill sees only the task's own processes
        guest.run("echo mine > ~/written-by-task.txt")
        assert not (Path.home() / "written-by-task.txt").exists()
        assert (guest.home / "written-by-task.txt").read_text() == "mine\n"
    finally:
        host_sleeper.kill()
        host_sleeper.wait()
        secret.unlink()


async def test_two_task_computers_share_nothing_and_leave_nothing(x: XSession, guest: Guest) -> None:
    other = Guest(GuestConfig())
    other.start()
    try:
        assert other.display_name != guest.display_name
        guest.run("echo a > ~/only-a.txt")
        assert other.run("ls ~/only-a.txt").returncode != 0
        other.launch(["xterm", "-title", "window-of-b"])
        session = XSession(other.display_name, focus_timeout_s=10)
        try:
            await _wait(lambda: any(w.title == "window-of-b" for w in session.windows()), "b's xterm")
        finally:
            session.close()
        assert not any(w.title == "window-of-b" for w in x.windows())
        other.run("kill -9 -1")  # a task that kills everything it can kills its apps, not its computer
        assert other.run("echo alive").stdout == "alive\n"
        root = other.root
    finally:
        other.stop()
    assert not root.exists()


def test_a_task_computer_is_bounded_in_memory_and_processes_as_a_whole() -> None:
    """Task computers had no memory cap: a task could take the machine's memory from every other one."""
    cgroup_tree()
    limits = dataclasses.replace(GuestConfig().limits, processes=64)
    small = Guest(GuestConfig(memory_mb=192, limits=limits))
    small.start()
    try:
        take = "import sys; b = bytearray(int(sys.argv[1]) << 20); print(len(b) >> 20)"  # zeroed: every page
        assert small.run(["/usr/bin/python3", "-c", take, "64"]).stdout == "64\n"
        hog = small.run(["/usr/bin/python3", "-c", take, "400"])
        assert hog.returncode in (-9, 137), hog  # the kernel's OOM killer, inside the task's cgroup
        spawn = "(sleep 30 >/dev/null 2>&1 &) 2>/dev/null && n=$((n+1))"
        bomb = small.run(f"n=0; for i in $(seq 200); do {spawn}; done; echo $n")
        started = int(bomb.stdout.split()[-1]) if bomb.stdout.split() else 0
        assert started < 64, bomb
        assert small.run("echo alive").stdout == "alive\n", "the computer lives on"
    finally:
        small.stop()


async def test_the_desktop_is_osworlds_and_its_keys_stay_in_the_sandbox(guest: Guest, x: XSession) -> None:
    """A right click on the desktop opens no menu (openbox's stock one starts a terminal as whoever runs the
    window manager: a click on its first entry would have opened one outside the sandbox); Ctrl+Alt+T
    opens a terminal titled as GNOME's, maximised, run by the task's user inside the task's sandbox."""
    before = {w.id for w in x.windows()}
    assert execute(guest, "pyautogui.click(200, 200, button='right'); pyautogui.click(230, 212)").ok
    assert execute(guest, "pyautogui.hotkey('ctrl', 'alt', 't')").ok
    # a terminal the menu started would have been on its way before the one the keys start
    # another test of this module's computer may have left a terminal of its own open: only new ones count
    [terminal] = await _wait(
        lambda: [w for w in x.windows() if w.title == "Terminal" and w.id not in before], "the keys' terminal"
    )
    assert [w.id for w in x.windows() if w.id not in before] == [terminal.id]
    assert x.window_class(terminal.id).endswith("Gnome-terminal")
    assert (terminal.width, terminal.height) > (1800, 900)  # maximised on the 1920x1080 screen
    logs = await _wait(lambda: guest.run("ls /tmp/.terminal-*.log").stdout.split(), "the terminal's log")
    assert logs  # the log lives in the sandbox's /tmp: the terminal runs in there
    x.close_window(terminal.id)


@pytest.mark.skipif(
    not Path(CODE_SERVER, "bin", "code-server").exists() and not os.environ.get("CI"),
    reason="code-server is not installed (bash scripts/install.sh --osworld-apps)",
)
async def test_code_opens_vs_code_titled_and_configured_as_osworlds(guest: Guest, x: XSession) -> None:
    """`code FILE` shows the file in a window titled as desktop VS Code's, inside the sandbox, and VS Code
    keeps the user's settings where OSWorld's getters read them."""
    guest.write_file("/home/user/Desktop/hello.py", b"print('hello')\n")
    guest.launch(["code", "/home/user/Desktop/hello.py"])
    windows = await until(
        lambda: [w for w in x.windows() if w.title == "hello.py - Desktop - Visual Studio Code"],
        "the VS Code window",
    )
    assert windows[0].width > 1800
    assert guest.run(["code", "--list-extensions"]).returncode == 0
    settings = await until(lambda: guest.run("ls ~/.config/Code/User").stdout, "VS Code's user folder")
    assert "globalStorage" in settings
    x.close_window(windows[0].id)


def test_a_test_suite_runs_the_agents_code_inside_the_task_computer(guest: Guest, tmp_path: Path) -> None:
    """The attack: the agent writes a module that the task's test suite imports; OSWorld imports it on its
    host. Here it runs in the task's sandbox: a file it writes to /tmp is not the host's, and the host's
    files are not there to read."""
    marker = f"/tmp/aios-attack-{os.getpid()}"
    secret = tmp_path / "secret"
    secret.write_text("the host's")
    spy = f"import os\nopen({marker!r}, 'w').write(str(os.path.exists({str(secret)!r})))\n"
    code = spy + "def grow(n):\n    return n + 1\n"
    guest.write_file("/home/user/snake.py", code.encode())
    suite = tmp_path / "test_suite.py"
    suite.write_text("import snake\n\ndef test():\n    return snake.grow(1) == 2\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "test_suite.py").write_bytes(suite.read_bytes())
    evaluator = Evaluator(
        func="check_python_file_by_test_suite",
        result={"type": "vm_file", "path": "/home/user/snake.py", "dest": "snake.py"},
        expected={"type": "cache_file", "path": "test_suite.py"},
    )
    files = tmp_path / "files"
    files.mkdir()
    assert score(evaluator, _ctx(guest, files, cache), last_action="DONE") == 1.0
    assert not Path(marker).exists()
    assert guest.read_file(marker) == b"False"  # written in the task's own /tmp, the host's file unseen


@pytest.mark.skipif(
    shutil.which("soffice") is None and not os.environ.get("CI"),
    reason="LibreOffice is not installed (bash scripts/install.sh --osworld-apps)",
)
async def test_a_spreadsheets_accessibility_tree_is_the_cells_on_screen(guest: Guest, x: XSession) -> None:
    """Calc shows its sheet as a table of 2^30 cells: the tree holds the ones on screen, and comes back well
    inside the dump's time limit (walking every cell never ended)."""
    book = openpyxl.Workbook()
    book.active.append(["Category", "January"])
    data = io.BytesIO()
    book.save(data)
    guest.write_file("/home/user/sheet-a11y.xlsx", data.getvalue())
    guest.launch(["soffice", "/home/user/sheet-a11y.xlsx"])
    await until(lambda: [w for w in x.windows() if "sheet-a11y.xlsx" in w.title], "the Calc window")

    def with_a1() -> str:
        tree = linearize(tree_xml(guest))
        return tree if "\tA1\tCategory\t" in tree else ""

    tree = await until(with_a1, "cell A1 in the tree")
    assert "\tB1\tJanuary\t" in tree
    assert tree.count("table-cell\t") < 2000
    for window in x.windows():
        if "sheet-a11y.xlsx" in window.title:
            x.close_window(window.id)
