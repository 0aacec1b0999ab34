"""Deployment tests: shared helpers to render k8s/ and read what the rendered objects say."""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from tests.unit.k8s.kustomize import build, load_documents

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "k8s"
CRDS = Path(__file__).resolve().parent / "crds"
OVERLAYS = ("dev", "prod")
NAMESPACE = "orbweaver"

KUBERNETES_VERSION = "1.31.0"
"""The Kubernetes release whose bundled schemas (kubernetes-validate) the built-in kinds must pass."""

WORKLOAD_KINDS = ("Deployment", "Job")


@cache
def _rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(build(K8S / "overlays" / overlay))


def rendered(overlay: str) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize k8s/overlays/<overlay>`` produces (built once per test run)."""
    return list(_rendered(overlay))


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def generated(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """A generated ConfigMap or Secret by its name without the content-hash suffix."""
    matches = [d for d in docs if d["kind"] == kind and re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]{{10}})?",
                                                                      d["metadata"]["name"])]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def pod_templates(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod template) of every Deployment and Job."""
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield doc, doc["spec"]["template"]


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod_spec.get("containers") or []) + list(pod_spec.get("initContainers") or [])


def role_of(workload: dict[str, Any]) -> str:
    return str(workload["spec"]["template"]["metadata"]["labels"]["orbweaver.io/role"])


def config_data(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    return dict(generated(docs, "ConfigMap", name).get("data") or {})


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def dockerfile_uid() -> int:
    """The numeric user of the image's final stage (``USER uid[:gid]``)."""
    users = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("USER ")]
    assert users, "the Dockerfile sets no USER"
    return int(users[-1].split(":")[0])


def load_crds() -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> openAPIV3Schema of every vendored CRD."""
    schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in load_documents(path):
            spec = crd["spec"]
            for version in spec["versions"]:
                key = (spec["group"], version["name"], spec["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


# Selectors and network policies -----------------------------------------------------------


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector selects an object with ``labels`` ({} selects all)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {op}")
    return True


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry:
            return True
        if not isinstance(entry["port"], int):
            continue  # a named port belongs to a pod, never to an address outside the cluster
        if entry["port"] <= port <= entry.get("endPort", entry["port"]):
            return True
    return False


def _ip_in_block(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, block: dict[str, Any]) -> bool:
    network = ipaddress.ip_network(block["cidr"])
    if ip.version != network.version or ip not in network:
        return False
    return not any(ip in ipaddress.ip_network(e) for e in block.get("except") or [] if
                   ipaddress.ip_network(e).version == ip.version)


def egress_allowed(docs: list[dict[str, Any]], pod_labels: dict[str, str], address: str, port: int,
                   protocol: str = "TCP") -> bool:
    """Whether the namespace's NetworkPolicies let a pod reach an address that is no pod of the cluster.

    Only ``ipBlock`` peers can admit such an address (namespace and pod selectors match pods); a
    rule without peers admits every address, one without ports every port.
    """
    ip = ipaddress.ip_address(address)
    policies = [
        p for p in of_kind(docs, "NetworkPolicy")
        if "Egress" in p["spec"].get("policyTypes", []) and selector_matches(p["spec"]["podSelector"], pod_labels)
    ]
    if not policies:
        return True
    for policy in policies:
        for rule in policy["spec"].get("egress") or []:
            if not _port_matches(rule.get("ports"), port, protocol):
                continue
            peers = rule.get("to")
            if not peers or any("ipBlock" in peer and _ip_in_block(ip, peer["ipBlock"]) for peer in peers):
                return True
    return False
