#!/usr/bin/env bash
# Build and install llama-cpp-python (the in-process backend of dspy_dlpo.lm) from source.
#
# Usage: .ci/install-local-llama.sh               build a wheel and pip-install it (--no-deps + deps)
#        .ci/install-local-llama.sh --cmake-args  only print the CMake CPU flags used for this machine
# Env:   PYTHON           interpreter whose pip is used (default: python3)
#        WHEEL_DIR        where the wheel is kept (default: ${XDG_CACHE_HOME:-~/.cache}/dspy-dlpo/wheels)
#        LLAMA_ENABLE_AMX set to 1 to allow Intel AMX kernels
#        LLAMA_CMAKE_ARGS extra CMake arguments, appended last
#        LLAMA_CPP_SDIST  build from this local llama_cpp_python-<ver>.tar.gz instead of PyPI's
#
# Why not plain `pip install llama-cpp-python`: ggml's default -march=native build compiles Intel
# AMX kernels on CPUs that advertise AMX, and on VMs that advertise AMX without really providing
# it (this project's CI) the first matrix multiply dies with SIGILL (`tilezero`). We therefore
# turn GGML_NATIVE off and enable exactly the x86 extensions /proc/cpuinfo lists, minus AMX.
set -euo pipefail

VERSION="0.3.36"
PYTHON="${PYTHON:-python3}"
WHEEL_DIR="${WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dspy-dlpo/wheels}"

log() { echo "[install-local-llama] $*" >&2; }

cpu_cmake_args() {  # prints the GGML CPU options for this machine
    if [[ "$(uname -m)" != "x86_64" ]]; then
        echo "-DGGML_NATIVE=ON ${LLAMA_CMAKE_ARGS:-}"
        return
    fi
    local flags
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    has() { local f; for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
    onoff() { if has "$@"; then echo ON; else echo OFF; fi; }
    local amx=OFF
    [[ "${LLAMA_ENABLE_AMX:-0}" == 1 ]] && amx="$(onoff amx_tile amx_int8)"
    echo "-DGGML_NATIVE=OFF -DGGML_SSE42=$(onoff sse4_2) -DGGML_AVX=$(onoff avx)" \
        "-DGGML_AVX2=$(onoff avx2) -DGGML_FMA=$(onoff fma) -DGGML_F16C=$(onoff f16c)" \
        "-DGGML_BMI2=$(onoff bmi2) -DGGML_AVX_VNNI=$(onoff avx_vnni)" \
        "-DGGML_AVX512=$(onoff avx512f avx512cd avx512vl avx512dq avx512bw)" \
        "-DGGML_AVX512_VBMI=$(onoff avx512vbmi) -DGGML_AVX512_VNNI=$(onoff avx512_vnni)" \
        "-DGGML_AVX512_BF16=$(onoff avx512_bf16) -DGGML_AMX_TILE=$amx -DGGML_AMX_INT8=$amx" \
        "-DGGML_AMX_BF16=OFF ${LLAMA_CMAKE_ARGS:-}"
}

main() {
    if [[ "${1:-}" == "--cmake-args" ]]; then
        cpu_cmake_args
        return
    fi
    [[ $# -eq 0 ]] || { log "unknown argument '$1' (expected nothing or --cmake-args)"; exit 2; }
    mkdir -p "$WHEEL_DIR"
    local args
    args="$(cpu_cmake_args)"
    log "building llama-cpp-python==$VERSION (several minutes) with: $args"
    # --no-cache-dir: pip would otherwise reuse a wheel it built earlier with other flags.
    CMAKE_ARGS="$args" "$PYTHON" -m pip wheel --no-cache-dir --no-deps --no-binary llama-cpp-python \
        "${LLAMA_CPP_SDIST:-llama-cpp-python==$VERSION}" -w "$WHEEL_DIR" >&2
    "$PYTHON" -m pip install --no-deps --force-reinstall \
        "$WHEEL_DIR/llama_cpp_python-$VERSION-"*.whl >&2
    "$PYTHON" -m pip install "diskcache>=5.6.1" "jinja2>=2.11.3" "typing-extensions>=4.5.0" "numpy>=1.20.0" >&2
    "$PYTHON" -c "import llama_cpp; print(llama_cpp.__version__)"
}

main "$@"
