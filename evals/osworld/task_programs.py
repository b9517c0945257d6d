"""The programs a task computer adds under the names OSWorld's tasks call them by: small scripts, first on
the PATH inside its sandbox, that run the real program the way the task expects."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aios.evals.osworld.apps import CODE_SERVER
from aios.evals.osworld.chrome import DEBUG_PORT

BROWSER_NAMES = ("google-chrome", "google-chrome-stable", "chromium", "chromium-browser", "chrome")
TERMINAL_LOG_GLOB = "/tmp/.terminal-*.log"
"""Where the terminal scripts log what they show (the sandbox's /tmp, outside the task's home)."""
CODE_PORT = 13337
CODE_USER_DATA = ".config/Code"
CODE_EXTENSIONS = ".vscode/extensions"
VLC_HTTP_PORT = 8080
VLC_HTTP_PASSWORD = "password"


def _sudo_script(password: str) -> str:
    """`sudo` that asks for the task's password and then runs the command as the same user: the task
    sees the prompt it expects, and nothing is granted (there is nothing above this user to switch to)."""
    return f"""#!/bin/sh
# aios task sudo: checks the task password, grants no privilege
stdin_pw=0
while [ $# -gt 0 ]; do
  case "$1" in
    -S|--stdin) stdin_pw=1; shift ;;
    -k|-K|-E|-H|-n|--preserve-env|--login|-i) shift ;;
    -u|-g|-p) shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ "$stdin_pw" = 1 ] || printf '[sudo] password for user: ' >&2
IFS= read -r pw || pw=""
if [ "$pw" != {json.dumps(password)} ]; then echo "Sorry, try again." >&2; exit 1; fi
[ $# -eq 0 ] && exit 0
exec "$@"
"""


def _chromium_script(binary: str, home: str) -> str:
    """`google-chrome`/`chromium` as OSWorld's tasks name it: Debian's Chromium with the flags a sandbox
    without privileges needs. The task's own flags pass through; the debugging port is always ours (given
    last, so it wins), so setup steps and getters know where the browser listens."""
    return f"""#!/bin/sh
exec {binary} --no-sandbox --test-type --force-renderer-accessibility --disable-gpu \\
  --no-first-run --no-default-browser-check \\
  --disable-background-networking --disable-component-update --disable-sync \\
  --password-store=basic --user-data-dir={home}/.config/google-chrome \\
  "$@" --remote-debugging-port={DEBUG_PORT}
"""


def _code_script(chromium: str) -> str:
    """`code` as OSWorld's tasks call VS Code: code-server, started once per task computer with VS Code's
    settings folder where desktop VS Code keeps it, shown in a Chromium app window titled and classed as
    VS Code's. Extension commands go straight to code-server."""
    server = f"{CODE_SERVER}/bin/code-server"
    dirs = f'--user-data-dir "$HOME/{CODE_USER_DATA}" --extensions-dir "$HOME/{CODE_EXTENSIONS}"'
    return f"""#!/bin/sh
for arg in "$@"; do
  case "$arg" in
    --list-extensions|--install-extension|--uninstall-extension|--version|-v|--help|-h)
      exec {server} {dirs} "$@" ;;
  esac
done
up() {{
  {sys.executable} -c "import socket; socket.create_connection(('127.0.0.1', {CODE_PORT}), 0.2)" 2>/dev/null
}}
if ! up; then
  mkdir -p "$HOME/{CODE_USER_DATA}" "$HOME/{CODE_EXTENSIONS}"
  {server} {dirs} --auth none --bind-addr 127.0.0.1:{CODE_PORT} --app-name "Visual Studio Code" \\
    --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \\
    --ignore-last-opened >/tmp/code-server.log 2>&1 &
  i=0
  until up || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
fi
target=""
for arg in "$@"; do
  case "$arg" in -*) ;; *) target="$arg" ;; esac
done
page="http://127.0.0.1:{CODE_PORT}/"
if [ -d "$target" ]; then
  page="$page?folder=$(realpath "$target")"
elif [ -n "$target" ]; then
  touch "$target"
  file="$(realpath "$target")"
  open="%5B%5B%22openFile%22%2C%22vscode-remote%3A%2F%2F$file%22%5D%5D"
  page="$page?folder=$(dirname "$file")&payload=$open"
fi
exec {chromium} --no-sandbox --test-type --disable-gpu --no-first-run --no-default-browser-check \\
  --disable-background-networking --disable-component-update --disable-sync --password-store=basic \\
  --user-data-dir="$HOME/.cache/code-window" --class=Code --app="$page" >/dev/null 2>&1
"""


def _terminal_script() -> str:
    """`xterm` (and `gnome-terminal`, as OSWorld's tasks name theirs) that logs what it shows, for the
    terminal-output getter; the log lives in the sandbox's /tmp, outside the task's home. Its window is
    titled and classed as GNOME's terminal is, for the tasks' `activate_window` steps; a title the caller
    gives comes later and wins."""
    return f"""#!/bin/sh
log={TERMINAL_LOG_GLOB.replace("*", "$$")}
term="/usr/bin/xterm -l -lf $log -T Terminal -class Gnome-terminal"
if [ "$(basename "$0")" = gnome-terminal ]; then
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then shift; exec $term -e "$@"; fi
    shift
  done
  exec $term
fi
exec $term "$@"
"""


def _vlc_script() -> str:
    """`vlc` with its web interface on the task's loopback, as OSWorld's image runs it: the playing-info
    getter asks it what plays. A task computer has no sound card: VLC plays to no device rather than
    showing an error dialog over the task."""
    return f"""#!/bin/sh
exec /usr/bin/vlc --aout=dummy --extraintf=http --http-host=127.0.0.1 --http-port={VLC_HTTP_PORT} \\
  --http-password={VLC_HTTP_PASSWORD} "$@"
"""


def task_scripts(*, password: str, chromium: str, home: str) -> dict[str, str]:
    """Each program's script by name, for a task whose password is `password` and whose home is `home`."""
    scripts = {"sudo": _sudo_script(password)}
    for name in BROWSER_NAMES:
        scripts[name] = _chromium_script(chromium, home)
    scripts["xterm"] = scripts["gnome-terminal"] = _terminal_script()
    scripts["vlc"] = _vlc_script()
    if Path(CODE_SERVER, "bin", "code-server").is_file():
        scripts["code"] = _code_script(chromium)
    # OSWorld's setup steps run `python -c "import pyautogui; ..."`: ours has pyautogui
    scripts["python"] = scripts["python3"] = f'#!/bin/sh\nexec {sys.executable} "$@"\n'
    return scripts
