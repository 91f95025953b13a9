import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, os.path.dirname(__file__))


def require_llama_server() -> None:
    """Skip the calling test when no ``llama-server`` binary is built, or fail it when
    ``DSPY_DLPO_REQUIRE_LLAMA_SERVER=1`` (CI builds the binary, so its absence is a failure there)."""
    import pytest

    from dspy_dlpo.lm.server import find_llama_server

    try:
        find_llama_server()
    except FileNotFoundError as exc:
        if os.environ.get("DSPY_DLPO_REQUIRE_LLAMA_SERVER") == "1":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(f"llama-server not built: {exc}")
