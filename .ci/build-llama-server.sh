#!/usr/bin/env bash
# Build the native llama.cpp `llama-server` offline from the llama.cpp sources vendored in the
# llama-cpp-python sdist (fetched from PyPI with pip; sha256-pinned), into a user cache dir.
# Prints the path of the binary on stdout (all progress goes to stderr).
#
# Usage: .ci/build-llama-server.sh
# Env:   PYTHON                 python whose pip downloads the sdist (default: python3)
#        LLAMA_CPP_SDIST        use this local llama_cpp_python-<ver>.tar.gz instead of pip download
#        DSPY_DLPO_BIN_CACHE    install root (default: ${XDG_CACHE_HOME:-~/.cache}/dspy-dlpo/bin)
#        BUILD_JOBS             parallel compile jobs (default: nproc)
#        LLAMA_ENABLE_AMX, LLAMA_CMAKE_ARGS   see .ci/install-local-llama.sh (CPU flags; AMX off)
set -euo pipefail

VERSION="0.3.36"
SDIST_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
PYTHON="${PYTHON:-python3}"
ROOT="${DSPY_DLPO_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dspy-dlpo/bin}"
PREFIX="$ROOT/llama-server-$VERSION"
BIN="$PREFIX/llama-server"
JOBS="${BUILD_JOBS:-$(nproc)}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "[build-llama-server] $*" >&2; }

if [[ -x "$BIN" ]]; then
    log "already built"
    echo "$BIN"
    exit 0
fi

ensure_tools() {
    local missing=()
    command -v cmake >/dev/null || missing+=(cmake)
    command -v ninja >/dev/null || missing+=(ninja-build)
    command -v g++ >/dev/null || missing+=(g++)
    if ((${#missing[@]})); then
        local sudo=""
        [[ "$(id -u)" == 0 ]] || sudo="sudo"
        log "installing ${missing[*]} with apt-get"
        $sudo apt-get update -qq >&2
        $sudo apt-get install -y -qq "${missing[@]}" >&2
    fi
}

fetch_sdist() {  # $1 = work dir; prints the sdist path
    local sdist="${LLAMA_CPP_SDIST:-}"
    if [[ -z "$sdist" ]]; then
        log "downloading llama-cpp-python==$VERSION sdist with pip"
        "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
            "llama-cpp-python==$VERSION" -d "$1" >&2
        sdist="$1/llama_cpp_python-$VERSION.tar.gz"
    fi
    local actual
    actual="$(sha256sum "$sdist" | cut -d' ' -f1)"
    if [[ "$actual" != "$SDIST_SHA256" ]]; then
        log "sha256 mismatch for $sdist: expected $SDIST_SHA256, got $actual"
        exit 1
    fi
    echo "$sdist"
}

main() {
    ensure_tools
    work="$(mktemp -d "${TMPDIR:-/tmp}/llama-server-build.XXXXXX")"  # global: the EXIT trap needs it
    trap 'rm -rf "${work:-}"' EXIT
    local sdist
    sdist="$(fetch_sdist "$work")"
    tar -xzf "$sdist" -C "$work"
    local src="$work/llama_cpp_python-$VERSION/vendor/llama.cpp"
    local cpu_args
    cpu_args="$("$HERE/install-local-llama.sh" --cmake-args)"
    log "configuring $src with $cpu_args"
    # shellcheck disable=SC2086  # cpu_args is a list of -D options
    cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release $cpu_args \
        -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >&2
    log "compiling llama-server with $JOBS jobs"
    cmake --build "$work/build" --target llama-server -j "$JOBS" >&2
    mkdir -p "$PREFIX"
    cp "$work/build/bin/llama-server" "$BIN.tmp.$$"
    mv -f "$BIN.tmp.$$" "$BIN"
    log "built $BIN"
    echo "$BIN"
}

main "$@"
