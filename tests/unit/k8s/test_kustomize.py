"""Tests of how the deployment tests render k8s/: the pinned ``kubectl kustomize`` of the test extra."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.unit.k8s.kustomize import KUBECTL_WHEEL, KustomizeError, build, kubectl, split_image

K8S = Path(__file__).resolve().parents[3] / "k8s"


def test_kubectl_is_the_wheels_pinned_release() -> None:
    wheel = pytest.importorskip(KUBECTL_WHEEL)
    done = subprocess.run([str(kubectl()), "version", "--client"], capture_output=True, text=True, timeout=60,
                          check=True)
    assert f"v{wheel.KUBECTL_VERSION}" in done.stdout


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlays_render(overlay: str) -> None:
    docs = build(K8S / "overlays" / overlay)
    assert {d["kind"] for d in docs} >= {"Deployment", "ConfigMap", "Service"}


def test_build_errors_carry_kubectls_reason(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n", encoding="utf-8")
    with pytest.raises(KustomizeError, match=r"missing\.yaml"):
        build(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(KustomizeError, match="kustomization"):
        build(tmp_path / "empty")


def test_split_image() -> None:
    assert split_image("app") == ("app", None, None)
    assert split_image("registry:5000/org/app:1.2") == ("registry:5000/org/app", "1.2", None)
    assert split_image("app:1@sha256:abcd") == ("app", "1", "sha256:abcd")
