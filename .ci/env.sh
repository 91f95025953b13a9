# Sourced by .ci/run and .ci/setup-demo: use the active virtualenv, or create ./.venv.
if [ -z "${VIRTUAL_ENV:-}" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    # shellcheck disable=SC1091
    source .venv/bin/activate
fi
export PYTHON=python LITELLM_LOCAL_MODEL_COST_MAP=True HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1}
python -m pip install -q --upgrade pip
