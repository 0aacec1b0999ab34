"""Deployment tests: the k8s/ overlays, rendered offline, validated and checked against orbweaver's code."""

from __future__ import annotations

import copy
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import jsonschema
import kubernetes_validate
import pytest

from core.bus.kafka import MEDIA_TOPICS, KafkaBusOptions
from core.errors import ConfigError
from core.messages import Topic, dead_letter_topic
from core.settings import load
from core.stages import Host, StageName
from core.store import Store
from notifier.channels import SmtpChannel, SmtpSettings
from orbweaver.cli import main as cli
from orbweaver.runtime import CRAWLER_WORKER
from orbweaver.settings import Settings
from orbweaver.stages import BY_NAME, WORKER_STAGES
from tests.unit.k8s.kustomize import build, load_documents, split_image
from tests.unit.k8s.manifests import (
    CRDS,
    K8S,
    KUBERNETES_VERSION,
    NAMESPACE,
    OVERLAYS,
    ROOT,
    config_data,
    containers,
    dockerfile_uid,
    egress_allowed,
    generated,
    load_crds,
    named,
    of_kind,
    pod_templates,
    rendered,
    role_of,
    secret_data,
    selector_matches,
)

ROLES = (CRAWLER_WORKER, *(str(spec.name) for spec in WORKER_STAGES), "web")
SCALED_BY_KEDA = {"hashing": StageName.HASHING, "matcher": StageName.MATCHER}

OPERATOR_SECRETS = {"orbweaver-db-app": ("uri",)}
"""Secrets an operator creates: CloudNativePG makes ``<cluster>-app`` for the Cluster in k8s/base/postgres."""

EXTERNAL_SECRETS = {
    "orbweaver-s3-credentials": {"AWS_ACCESS_KEY_ID": "placeholder", "AWS_SECRET_ACCESS_KEY": "placeholder"},
    "orbweaver-smtp": {"host": "smtp.example.org", "port": "587", "username": "placeholder",
                       "password": "placeholder"},
}
"""Secrets the prod overlay expects to exist (created from the operator's secret store, never from
this repository), with their keys and a value of the right form for the settings check; k8s/README.md
documents each."""

NOTIFIER_SECRET_ENV = {
    "ORBWEAVER_NOTIFIER__SMTP__HOST": ("orbweaver-smtp", "host"),
    "ORBWEAVER_NOTIFIER__SMTP__PORT": ("orbweaver-smtp", "port"),
    "ORBWEAVER_NOTIFIER__SMTP__USERNAME": ("orbweaver-smtp", "username"),
    "ORBWEAVER_NOTIFIER__SMTP__PASSWORD": ("orbweaver-smtp", "password"),
}
"""The notifier's channel settings that come from Secrets ([notifier.smtp], notifier/channels.py), and where from."""

FOREIGN_ENV = {
    "AWS_ACCESS_KEY_ID": "botocore's environment credential provider",
    "AWS_SECRET_ACCESS_KEY": "botocore's environment credential provider",
    "AWS_DEFAULT_REGION": "botocore's region setting",
}
"""Environment variables the manifests set that are not orbweaver settings, and who reads them."""

CNPG_URI = "postgresql://orbweaver:pw@orbweaver-db-rw.orbweaver:5432/orbweaver"
"""The form of the ``uri`` key CloudNativePG writes into ``orbweaver-db-app``."""


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def docs(overlay: str) -> list[dict[str, Any]]:
    return rendered(overlay)


def deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {role_of(d): d for d in of_kind(docs, "Deployment")}


def bus_options(docs: list[dict[str, Any]]) -> tuple[str, KafkaBusOptions]:
    url = urlsplit(config_data(docs, "orbweaver-config")["ORBWEAVER_CORE__BUS"])
    assert url.scheme == "kafka"
    return url.netloc, KafkaBusOptions.from_query(url.query)


# Schemas ----------------------------------------------------------------------------------


def is_custom(doc: dict[str, Any]) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    return bool(group.endswith((".strimzi.io", ".cnpg.io", "keda.sh")))


def test_builtin_kinds_validate_against_the_kubernetes_schemas(docs: list[dict[str, Any]]) -> None:
    builtin = [d for d in docs if not is_custom(d)]
    assert {d["kind"] for d in builtin} >= {"Deployment", "Job", "NetworkPolicy", "Namespace", "ConfigMap",
                                            "PodDisruptionBudget", "Service", "ServiceAccount"}
    for doc in builtin:
        # strict: unknown fields fail, as kubectl apply's default field validation does.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validate_catches_a_wrong_field() -> None:
    deployment = copy.deepcopy(named(rendered("prod"), "Deployment", "orbweaver-review"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_vendored_crds_are_valid_custom_resource_definitions() -> None:
    files = sorted(CRDS.glob("*.yaml"))
    assert len(files) == 5
    for path in files:
        for crd in load_documents(path):
            kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)
            names = crd["spec"]["names"]
            assert crd["metadata"]["name"] == f"{names['plural']}.{crd['spec']['group']}"


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every declared object closed to undeclared fields (kubectl's strict validation).

    Objects without ``properties`` (metadata) and those that preserve unknown fields stay open.
    """
    out = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(out)
    return out


def validate_custom(doc: dict[str, Any], schemas: dict[tuple[str, str, str], dict[str, Any]]) -> None:
    group, _, version = doc["apiVersion"].rpartition("/")
    schema = schemas.get((group, version, doc["kind"]))
    assert schema is not None, f"no vendored CRD for {doc['apiVersion']} {doc['kind']}"
    jsonschema.Draft7Validator(closed(schema)).validate(doc)
    name = doc["metadata"]["name"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) and len(name) <= 253, name
    for key, value in (doc["metadata"].get("labels") or {}).items():
        assert isinstance(value, str), f"label {key} of {name} is not a string"


def test_custom_resources_validate_against_their_crds(docs: list[dict[str, Any]]) -> None:
    schemas = load_crds()
    custom = [d for d in docs if is_custom(d)]
    assert {d["kind"] for d in custom} == {"Kafka", "KafkaNodePool", "KafkaTopic", "Cluster", "ScaledObject"}
    for doc in custom:
        validate_custom(doc, schemas)


@pytest.mark.parametrize(
    ("kind", "name", "change"),
    [
        ("KafkaTopic", "media-fetched", lambda d: d["spec"].update(partition=3)),  # a typo
        ("KafkaTopic", "media-fetched", lambda d: d["spec"].update(replicas="3")),
        ("KafkaNodePool", "dual-role", lambda d: d["spec"].update(roles=["leader"])),
        ("Kafka", "orbweaver", lambda d: d["spec"]["kafka"]["listeners"][0].pop("tls")),
        ("Cluster", "orbweaver-db", lambda d: d["spec"].pop("instances")),
        ("ScaledObject", "orbweaver-hashing", lambda d: d["spec"]["triggers"][0]["metadata"].update(lagThreshold=5)),
    ],
)
def test_crd_validation_catches_mistakes(kind: str, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    doc = copy.deepcopy(named(rendered("prod"), kind, name))
    change(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(doc, load_crds())


# Free-form fields: no schema describes their keys, so each has its own check.

STRIMZI_FORBIDDEN_BROKER_CONFIG = (
    "listeners", "advertised.", "broker.", "listener.", "host.name", "port", "inter.broker.listener.name", "sasl.",
    "ssl.", "security.", "password.", "log.dir", "zookeeper.connect", "zookeeper.set.acl", "zookeeper.ssl",
    "zookeeper.clientCnxnSocket", "authorizer.", "super.user", "cruise.control.metrics.topic",
    "cruise.control.metrics.reporter.bootstrap.servers", "node.id", "process.roles", "controller.",
    "metadata.log.dir",
)
"""Broker config prefixes Strimzi manages itself and refuses in spec.kafka.config (its CRD says so)."""

KAFKA_TOPIC_CONFIG = {"retention.ms", "min.insync.replicas", "max.message.bytes", "cleanup.policy", "segment.ms",
                      "retention.bytes"}
CNPG_FIXED_PARAMETERS = {
    "listen_addresses", "port", "unix_socket_directories", "ssl", "ssl_ca_file", "ssl_cert_file", "ssl_key_file",
    "log_destination", "log_directory", "log_filename", "logging_collector", "hot_standby", "wal_level",
    "archive_mode", "archive_command", "restore_command", "primary_conninfo", "primary_slot_name", "data_directory",
    "hba_file", "ident_file", "wal_log_hints", "full_page_writes", "cluster_name",
}
"""PostgreSQL parameters CloudNativePG sets itself and refuses in spec.postgresql.parameters."""

KEDA_KAFKA_PARAMETERS = {
    "bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold", "offsetResetPolicy",
    "allowIdleConsumers", "scaleToZeroOnInvalidOffset", "excludePersistentLag", "limitToPartitionsWithLag",
    "partitionLimitation", "version", "sasl", "tls", "unsafeSsl",
}
"""Trigger metadata keys of KEDA's kafka scaler (its documentation's parameter list)."""


def check_broker_config(config: dict[str, Any]) -> None:
    for key, value in config.items():
        assert not key.startswith(STRIMZI_FORBIDDEN_BROKER_CONFIG), f"Strimzi manages {key} itself"
        assert isinstance(value, (str, int, bool)), f"{key} is not a scalar"


def check_topic_config(config: dict[str, Any]) -> None:
    for key, value in config.items():
        assert key in KAFKA_TOPIC_CONFIG, f"unknown topic config {key}"
        if key.endswith((".ms", ".bytes", ".replicas")):
            assert isinstance(value, int) and value > 0, f"{key}={value!r}"


def check_pg_parameters(params: dict[str, Any]) -> None:
    for key, value in params.items():
        assert key not in CNPG_FIXED_PARAMETERS, f"CloudNativePG manages {key} itself"
        assert isinstance(value, str), f"{key} must be a string"


def check_keda_metadata(metadata: dict[str, Any]) -> None:
    assert set(metadata) <= KEDA_KAFKA_PARAMETERS, sorted(set(metadata) - KEDA_KAFKA_PARAMETERS)
    assert {"bootstrapServers", "consumerGroup", "topic"} <= set(metadata)
    for key in ("lagThreshold", "activationLagThreshold"):
        assert str(metadata.get(key, "0")).isdigit(), key
    assert metadata.get("offsetResetPolicy", "latest") in ("earliest", "latest")
    for key in ("allowIdleConsumers", "scaleToZeroOnInvalidOffset", "excludePersistentLag"):
        assert metadata.get(key, "false") in ("true", "false"), key


FREE_FORM_FIELDS: dict[tuple[str, str], tuple[Callable[[dict[str, Any]], None], dict[str, Any]]] = {
    ("Kafka", "spec.kafka.config"): (check_broker_config, {"advertised.listeners": "PLAINTEXT://x:9092"}),
    ("KafkaTopic", "spec.config"): (check_topic_config, {"retention.msec": 1}),
    ("Cluster", "spec.postgresql.parameters"): (check_pg_parameters, {"listen_addresses": "*"}),
    ("ScaledObject", "spec.triggers[].metadata"): (check_keda_metadata, {"bootstrapServer": "x:9092"}),
}
"""The exceptions to schema validation: (kind, path) -> (the check of its keys, a value that fails it)."""


def values_at(doc: Any, path: str) -> list[Any]:
    nodes = [doc]
    for part in path.split("."):
        key, many = (part[:-2], True) if part.endswith("[]") else (part, False)
        nodes = [n[key] for n in nodes if isinstance(n, dict) and key in n]
        if many:
            nodes = [item for n in nodes for item in n]
    return nodes


def schema_at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in path.split("."):
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node["items"]
    return node


def free_form(node: dict[str, Any]) -> bool:
    return bool(node.get("x-kubernetes-preserve-unknown-fields")) or bool(
        node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict)
        and node["additionalProperties"].get("type") == "string" and "properties" not in node
    )


def test_free_form_fields_are_exactly_the_listed_exceptions() -> None:
    kinds = {kind: schema for (_, _, kind), schema in load_crds().items()}
    listed = set()
    for kind, path in FREE_FORM_FIELDS:
        assert free_form(schema_at(kinds[kind], path)), f"{kind} {path} has a schema: validate it instead"
        listed.add((kind, path))
    found = set()

    def walk(kind: str, node: dict[str, Any], path: str) -> None:
        if free_form(node) and path:
            found.add((kind, path))
            return
        for name, child in (node.get("properties") or {}).items():
            walk(kind, child, f"{path}.{name}" if path else name)
        if isinstance(node.get("items"), dict):
            walk(kind, node["items"], path + "[]")

    for kind, schema in kinds.items():
        walk(kind, schema, "")
    # Label maps are free-form strings by design and are checked as labels.
    found = {(k, p) for k, p in found if not p.endswith("matchLabels")}
    assert found == listed


@pytest.mark.parametrize(("kind", "path"), sorted(FREE_FORM_FIELDS))
def test_free_form_fields_pass_their_checks(kind: str, path: str, docs: list[dict[str, Any]]) -> None:
    check, bad = FREE_FORM_FIELDS[(kind, path)]
    values = [v for d in of_kind(docs, kind) for v in values_at(d, path)]
    assert values, f"no {kind} has {path}"
    for value in values:
        check(value)
    with pytest.raises(AssertionError):
        check(bad)


# The roles, the image and the commands ----------------------------------------------------


def test_one_deployment_per_role_all_from_the_one_image(docs: list[dict[str, Any]]) -> None:
    assert sorted(deployments(docs)) == sorted(ROLES)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {c["image"] for _, pod in pod_templates(docs) for c in containers(pod["spec"])}
    assert images == {f"ghcr.io/orbweaver/orbweaver:{version}"}


def test_no_image_is_untagged_or_latest(docs: list[dict[str, Any]]) -> None:
    refs = [c["image"] for d in docs for c in _all_containers(d)]
    refs += [d["spec"]["imageName"] for d in of_kind(docs, "Cluster")]
    assert refs
    for ref in refs:
        _, tag, digest = split_image(ref)
        assert tag or digest, f"{ref} has neither tag nor digest"
        assert tag != "latest", ref


def _all_containers(doc: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                found.extend(value)
            else:
                found.extend(_all_containers(value))
    elif isinstance(doc, list):
        for item in doc:
            found.extend(_all_containers(item))
    return found


def command_exists(args: list[str]) -> bool:
    """Whether ``orbweaver <args>`` names a command (and, for worker, a stage) with the options given."""
    command = cli.commands.get(args[0])
    if command is None:
        return False
    rest = args[1:]
    if args[0] == "worker":
        if not rest or rest[0] not in {str(s.name) for s in WORKER_STAGES} | {CRAWLER_WORKER}:
            return False
        rest = rest[1:]
    options = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
    return all(a in options for a in rest if a.startswith("--"))


def test_every_container_runs_a_real_orbweaver_command(docs: list[dict[str, Any]]) -> None:
    for workload, pod in pod_templates(docs):
        for container in containers(pod["spec"]):
            args = container["args"]
            assert command_exists(args), f"{workload['metadata']['name']}: orbweaver {' '.join(args)} does not exist"


def test_command_check_can_fail() -> None:
    assert command_exists(["worker", "hashing", "--metrics-port", "9100"])
    assert command_exists(["migrate"])
    assert not command_exists(["worker", "hashin"])
    assert not command_exists(["worker", "hashing", "--metric-port", "9100"])
    assert not command_exists(["migrat"])


def test_workers_serve_health_and_metrics_where_probes_and_prometheus_look(docs: list[dict[str, Any]]) -> None:
    for role, deployment in deployments(docs).items():
        template = deployment["spec"]["template"]
        (container,) = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, f"{role} has no {probe}"
            check = container[probe]
            target = check.get("httpGet") or check.get("tcpSocket")
            assert target is not None
            assert target["port"] in ports or target["port"] in ports.values()
        if role == "web":
            assert ports == {"http": 8000}
            continue
        assert container["args"][-2:] == ["--metrics-port", str(ports["metrics"])]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == "/healthz"
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(ports["metrics"])
        assert annotations["prometheus.io/path"] == "/metrics"


def test_selectors_select_their_pods(docs: list[dict[str, Any]]) -> None:
    by_role = deployments(docs)
    for deployment in by_role.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector_matches(deployment["spec"]["selector"], labels)
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        chosen = [r for r, d in by_role.items()
                  if selector_matches(pdb["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        assert len(chosen) == 1, pdb["metadata"]["name"]
    for service in of_kind(docs, "Service"):
        chosen = [r for r, d in by_role.items()
                  if selector_matches({"matchLabels": service["spec"]["selector"]},
                                      d["spec"]["template"]["metadata"]["labels"])]
        assert chosen == ["web"]


def test_scaled_roles_have_disruption_budgets(docs: list[dict[str, Any]]) -> None:
    budgets = of_kind(docs, "PodDisruptionBudget")
    for role, deployment in deployments(docs).items():
        scaled = role in SCALED_BY_KEDA or deployment["spec"].get("replicas", 1) > 1 or role == "crawler"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        has_budget = any(selector_matches(b["spec"]["selector"], labels) for b in budgets)
        assert has_budget == (scaled or role == "web"), role


# Security ---------------------------------------------------------------------------------


def cpu(quantity: str | int) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory(quantity: str | int) -> int:
    text = str(quantity)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def test_pods_meet_the_restricted_pod_security_standard(docs: list[dict[str, Any]]) -> None:
    uid = dockerfile_uid()
    for workload, template in pod_templates(docs):
        name = workload["metadata"]["name"]
        spec = template["spec"]
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert pod_sc["runAsUser"] == uid, f"{name} runs as {pod_sc['runAsUser']}, the image's user is {uid}"
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host), name
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert not any("hostPath" in v for v in volumes.values()), name
        for container in containers(spec):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert not sc.get("privileged"), name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp is not an emptyDir"
            assert "/var/lib/orbweaver" in mounts, f"{name}: no writable data dir"


def test_every_container_has_requests_within_limits(docs: list[dict[str, Any]]) -> None:
    for workload, template in pod_templates(docs):
        for container in containers(template["spec"]):
            res = container["resources"]
            where = f"{workload['metadata']['name']}/{container['name']}"
            for key in ("cpu", "memory"):
                assert key in res["requests"] and key in res["limits"], f"{where} lacks {key}"
            assert cpu(res["requests"]["cpu"]) <= cpu(res["limits"]["cpu"]), where
            assert memory(res["requests"]["memory"]) <= memory(res["limits"]["memory"]), where


def test_namespace_enforces_restricted_and_holds_everything(docs: list[dict[str, Any]]) -> None:
    (namespace,) = of_kind(docs, "Namespace")
    assert namespace["metadata"]["name"] == NAMESPACE
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']} {doc['metadata']['name']}"


# Network policies -------------------------------------------------------------------------

PRIVATE_SAMPLES = [
    "10.0.0.1", "10.255.255.254", "172.16.0.1", "172.31.255.254", "192.168.0.1", "192.168.255.254", "100.64.0.1",
    "100.127.255.254", "169.254.169.254", "127.0.0.1", "fc00::1", "fd12:3456::1", "fe80::1", "::1",
]
PUBLIC_SAMPLES = ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"]
REQUIRED_EXCEPTIONS = {
    4: {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"},
    6: {"fc00::/7", "fe80::/10", "::1/128"},
}


def labels_of(docs: list[dict[str, Any]], role: str) -> dict[str, str]:
    if role == "migrate":
        return dict(of_kind(docs, "Job")[0]["spec"]["template"]["metadata"]["labels"])
    return dict(deployments(docs)[role]["spec"]["template"]["metadata"]["labels"])


def test_everything_is_denied_unless_a_policy_opens_it(docs: list[dict[str, Any]]) -> None:
    deny = named(docs, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_crawler_reaches_the_internet_but_no_private_range(docs: list[dict[str, Any]]) -> None:
    crawler = labels_of(docs, "crawler")
    for address in PUBLIC_SAMPLES:
        for port in (80, 443, 8080):
            assert egress_allowed(docs, crawler, address, port), (address, port)
    for address in PRIVATE_SAMPLES:
        for port in (53, 80, 443, 5432, 9092):
            assert not egress_allowed(docs, crawler, address, port), (address, port)


def test_crawler_policy_cuts_out_every_private_range(docs: list[dict[str, Any]]) -> None:
    policy = named(docs, "NetworkPolicy", "crawler-internet-egress")
    blocks = [peer["ipBlock"] for rule in policy["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer]
    by_version: dict[int, dict[str, Any]] = {ipaddress.ip_network(b["cidr"]).version: b for b in blocks}
    assert by_version[4]["cidr"] == "0.0.0.0/0" and by_version[6]["cidr"] == "::/0"
    for version, required in REQUIRED_EXCEPTIONS.items():
        assert required <= set(by_version[version]["except"])


def test_only_the_crawler_and_notifier_leave_the_cluster(docs: list[dict[str, Any]]) -> None:
    for role in ("hashing", "matcher", "review", "web", "migrate"):
        labels = labels_of(docs, role)
        for address in PUBLIC_SAMPLES + PRIVATE_SAMPLES:
            for port in (25, 80, 443, 587):
                assert not egress_allowed(docs, labels, address, port), (role, address, port)
    notifier = labels_of(docs, "notifier")
    for address in PUBLIC_SAMPLES:
        for port in (25, 465, 587, 443):
            assert egress_allowed(docs, notifier, address, port), (address, port)
        for port in (80, 8080, 5432):
            assert not egress_allowed(docs, notifier, address, port), (address, port)
    for address in PRIVATE_SAMPLES:
        assert not egress_allowed(docs, notifier, address, 587), address
    broker = {"strimzi.io/cluster": "orbweaver", "strimzi.io/name": "orbweaver-kafka"}
    assert not egress_allowed(docs, broker, PUBLIC_SAMPLES[0], 443)


def test_egress_evaluator_can_allow_and_deny() -> None:
    rule = {
        "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
        "ports": [{"protocol": "TCP", "port": 80, "endPort": 90}],
    }
    policy = {"kind": "NetworkPolicy",
              "spec": {"podSelector": {"matchLabels": {"a": "1"}}, "policyTypes": ["Egress"], "egress": [rule]}}
    assert egress_allowed([policy], {"a": "1"}, "10.2.0.1", 85)
    assert not egress_allowed([policy], {"a": "1"}, "10.1.0.1", 85)
    assert not egress_allowed([policy], {"a": "1"}, "10.2.0.1", 91)
    assert not egress_allowed([policy], {"a": "1"}, "10.2.0.1", 85, "UDP")
    assert egress_allowed([policy], {"a": "2"}, "8.8.8.8", 1)  # no policy selects it


def test_every_role_reaches_dns_kafka_and_its_stores(docs: list[dict[str, Any]]) -> None:
    def opened(role: str, peer_labels: dict[str, str], port: int) -> bool:
        labels = labels_of(docs, role)
        for policy in of_kind(docs, "NetworkPolicy"):
            spec = policy["spec"]
            if "Egress" not in spec["policyTypes"] or not selector_matches(spec["podSelector"], labels):
                continue
            for rule in spec.get("egress") or []:
                ports = [p.get("port") for p in rule.get("ports") or []]
                if port in ports and any(selector_matches(peer.get("podSelector"), peer_labels)
                                         for peer in rule.get("to") or [] if "podSelector" in peer):
                    return True
        return False

    kafka = {"strimzi.io/cluster": "orbweaver", "strimzi.io/name": "orbweaver-kafka"}
    postgres = {"cnpg.io/cluster": "orbweaver-db"}
    dns = {"k8s-app": "kube-dns"}
    for role in ROLES:
        assert opened(role, kafka, 9092), role
        assert opened(role, postgres, 5432), role
        assert opened(role, dns, 53), role
    assert opened("migrate", postgres, 5432)
    assert not opened("migrate", kafka, 9092)


# KEDA, topics and the bus -----------------------------------------------------------------


def test_keda_scales_hashing_and_matcher_on_orbweaver_groups_and_topics(docs: list[dict[str, Any]]) -> None:
    host, options = bus_options(docs)
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    scaled = {}
    for scaled_object in of_kind(docs, "ScaledObject"):
        spec = scaled_object["spec"]
        target = named(docs, "Deployment", spec["scaleTargetRef"]["name"])
        role = role_of(target)
        stage = StageName(target["spec"]["template"]["spec"]["containers"][0]["args"][1])
        assert SCALED_BY_KEDA[role] is stage
        assert "replicas" not in target["spec"], f"{role}: KEDA owns the replica count"
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "kafka"
        meta = trigger["metadata"]
        assert meta["consumerGroup"] == options.topic_prefix + BY_NAME[stage].group
        assert meta["topic"] == options.topic_prefix + BY_NAME[stage].main_topic
        assert meta["bootstrapServers"] == host
        assert meta["offsetResetPolicy"] == "earliest"
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= topics[meta["topic"]]["spec"]["partitions"]
        scaled[role] = stage
    assert scaled == SCALED_BY_KEDA


def test_every_topic_and_dead_letter_topic_is_declared(docs: list[dict[str, Any]]) -> None:
    _, options = bus_options(docs)
    declared = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    expected = {options.topic_prefix + name for t in Topic for name in (str(t), dead_letter_topic(t))}
    assert set(declared) == expected
    media = {options.topic_prefix + name for t in MEDIA_TOPICS for name in (str(t), dead_letter_topic(t))}
    (pool,) = of_kind(docs, "KafkaNodePool")
    brokers = pool["spec"]["replicas"] if "broker" in pool["spec"]["roles"] else 0
    for name, topic in declared.items():
        spec = topic["spec"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == of_kind(docs, "Kafka")[0]["metadata"]["name"]
        assert spec["config"]["max.message.bytes"] >= options.max_message_bytes, name
        assert spec["config"]["min.insync.replicas"] <= spec["replicas"] <= brokers, name
        if brokers > 1:
            assert spec["config"]["min.insync.replicas"] < spec["replicas"], f"{name}: one lost broker stops writes"
        if name in media:
            assert spec["config"]["retention.ms"] == options.media_retention_ms, name
        else:
            assert spec["config"]["retention.ms"] > options.media_retention_ms, name


def test_every_registered_stage_runs_in_a_deployment_and_reads_declared_topics(docs: list[dict[str, Any]]) -> None:
    _, options = bus_options(docs)
    declared = {t["spec"]["topicName"] for t in of_kind(docs, "KafkaTopic")}
    workers = {d["spec"]["template"]["spec"]["containers"][0]["args"][1]: d for d in deployments(docs).values()
               if d["spec"]["template"]["spec"]["containers"][0]["args"][:1] == ["worker"]}
    for spec in BY_NAME.values():
        worker = CRAWLER_WORKER if spec.host is Host.CRAWLER else str(spec.name)
        assert worker in workers, f"stage {spec.name}: no Deployment runs `worker {worker}`"
        for topic in spec.topics:
            assert options.topic_prefix + topic in declared, f"stage {spec.name} reads undeclared {topic}"


def test_bus_url_names_the_strimzi_bootstrap_service(docs: list[dict[str, Any]]) -> None:
    host, _ = bus_options(docs)
    (kafka,) = of_kind(docs, "Kafka")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert host == f"{kafka['metadata']['name']}-kafka-bootstrap.{NAMESPACE}.svc:{listener['port']}"


# Settings, ConfigMaps and Secrets ---------------------------------------------------------


def secret_values(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    rendered_secrets = [d for d in of_kind(docs, "Secret") if re.fullmatch(rf"{name}(-[a-z0-9]{{10}})?",
                                                                           d["metadata"]["name"])]
    if rendered_secrets:
        return secret_data(rendered_secrets[0])
    if name in OPERATOR_SECRETS:
        return {"uri": CNPG_URI}
    assert name in EXTERNAL_SECRETS, f"Secret {name} is neither rendered nor documented as external"
    return dict(EXTERNAL_SECRETS[name])


POD_FIELDS = {"metadata.name": "orbweaver-matching-7d9c5b6f4-x2x9q"}
"""Downward-API fields the manifests may read, with a value of the form Kubernetes gives."""


def container_environment(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The environment a container starts with, Secrets not in the render filled with placeholders."""
    environ: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            cm = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == source["configMapRef"]["name"]]
            assert len(cm) == 1, f"ConfigMap {source['configMapRef']['name']} is not in the render"
            environ.update(cm[0]["data"])
        if "secretRef" in source:
            environ.update(secret_values(docs, source["secretRef"]["name"]))
    for env in container.get("env") or []:
        if "value" in env:
            environ[env["name"]] = env["value"]
        elif "fieldRef" in env["valueFrom"]:
            environ[env["name"]] = POD_FIELDS[env["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            ref = env["valueFrom"]["secretKeyRef"]
            environ[env["name"]] = secret_values(docs, ref["name"])[ref["key"]]
    return environ


def check_settings_environment(environ: dict[str, str]) -> Settings:
    """Load orbweaver's settings from the ORBWEAVER_* part of an environment; the rest must be known."""
    ours = {k: v for k, v in environ.items() if k.startswith("ORBWEAVER_")}
    foreign = set(environ) - set(ours)
    assert foreign <= set(FOREIGN_ENV), f"unknown variables {sorted(foreign - set(FOREIGN_ENV))}"
    return load(Settings, environ=ours)


def test_manifest_environments_are_accepted_by_orbweaver_settings(docs: list[dict[str, Any]]) -> None:
    checked = 0
    for workload, template in pod_templates(docs):
        for container in containers(template["spec"]):
            environ = container_environment(docs, container)
            settings = check_settings_environment(environ)
            assert settings.core.bus_url() == environ["ORBWEAVER_CORE__BUS"]
            assert settings.core.store_url() == environ["ORBWEAVER_CORE__STORE"]
            Store(settings.core.store_url()).dispose()  # the CloudNativePG URL form is one the store accepts
            if workload["kind"] == "Deployment":
                assert settings.core.blobs_url().startswith("s3://")
                assert settings.worker.metrics_host == "0.0.0.0"
            checked += 1
    assert checked == 7


def test_matcher_replicas_name_their_list_change_groups_after_their_pods(docs: list[dict[str, Any]]) -> None:
    for role, deployment in deployments(docs).items():
        (container,) = containers(deployment["spec"]["template"]["spec"])
        from_pod = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container.get("env") or []
                    if "fieldRef" in e.get("valueFrom", {})}
        assert from_pod == ({"ORBWEAVER_MATCHER__REPLICA_ID": "metadata.name"} if role == "matcher" else {}), role
        if role == "matcher":
            settings = check_settings_environment(container_environment(docs, container))
            assert settings.matcher.replica_id == POD_FIELDS["metadata.name"]


def test_settings_check_rejects_unknown_names() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        check_settings_environment({"ORBWEAVER_CORE__BUSS": "kafka://x:9092"})
    with pytest.raises(AssertionError, match="unknown variables"):
        check_settings_environment({"AWS_SECRET_KEY": "x"})


def test_foreign_variables_are_the_ones_botocore_reads() -> None:
    from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES
    from botocore.credentials import EnvProvider

    assert {EnvProvider.ACCESS_KEY, EnvProvider.SECRET_KEY} == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert BOTOCORE_DEFAUT_SESSION_VARIABLES["region"][1] == "AWS_DEFAULT_REGION"
    assert set(FOREIGN_ENV) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}


def unhashed(name: str) -> str:
    """A Secret's name without the content-hash suffix a generator (and the references to it) carry."""
    return re.sub(r"-[a-z0-9]{10}$", "", name)


def referenced_secrets(docs: list[dict[str, Any]]) -> set[str]:
    names = set()
    for _, template in pod_templates(docs):
        for container in containers(template["spec"]):
            names |= {s["secretRef"]["name"] for s in container.get("envFrom") or [] if "secretRef" in s}
            names |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env") or []
                      if "secretKeyRef" in e.get("valueFrom", {})}
    return names


def test_no_secret_lives_in_the_prod_overlay() -> None:
    assert of_kind(rendered("prod"), "Secret") == []
    assert referenced_secrets(rendered("prod")) <= set(EXTERNAL_SECRETS) | set(OPERATOR_SECRETS)


def test_secrets_are_rendered_operator_made_or_documented(docs: list[dict[str, Any]]) -> None:
    readme = (K8S / "README.md").read_text()
    for name in sorted(set(EXTERNAL_SECRETS) | set(OPERATOR_SECRETS)):
        assert f"`{name}`" in readme, f"k8s/README.md does not document {name}"
        for key in EXTERNAL_SECRETS.get(name, ()):
            assert f"`{key}`" in readme, f"k8s/README.md does not document key {key} of {name}"
    dev_secrets = {d["metadata"]["name"].rsplit("-", 1)[0] for d in of_kind(rendered("dev"), "Secret")}
    assert dev_secrets == set(EXTERNAL_SECRETS)
    for name in EXTERNAL_SECRETS:
        assert set(secret_values(rendered("dev"), name)) == set(EXTERNAL_SECRETS[name])
    referenced = {unhashed(n) for n in referenced_secrets(docs)}
    assert referenced == set(EXTERNAL_SECRETS) | set(OPERATOR_SECRETS), "a Secret no role reads, or an unknown one"


def test_notifier_reads_its_channel_settings_from_the_smtp_secret(docs: list[dict[str, Any]]) -> None:
    (container,) = containers(deployments(docs)["notifier"]["spec"]["template"]["spec"])
    from_secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
                    if "secretKeyRef" in e.get("valueFrom", {})}
    wired = {name: (unhashed(ref["name"]), ref["key"]) for name, ref in from_secrets.items()
             if ref["name"] not in OPERATOR_SECRETS}
    assert wired == NOTIFIER_SECRET_ENV
    # Optional: a notifier that sends to the outbox must start without any SMTP Secret.
    assert all(from_secrets[name].get("optional") is True for name in NOTIFIER_SECRET_ENV)
    settings = check_settings_environment(container_environment(docs, container))
    expected = secret_values(docs, "orbweaver-smtp")
    smtp = settings.notifier.section(SmtpChannel.name, SmtpSettings)
    assert (smtp.host, smtp.port, smtp.username, smtp.password) == (
        expected["host"], int(expected["port"]), expected["username"], expected["password"])
    for role, deployment in deployments(docs).items():
        if role != "notifier":
            (other,) = containers(deployment["spec"]["template"]["spec"])
            assert not any(e["name"].startswith("ORBWEAVER_NOTIFIER__SMTP") for e in other.get("env") or []), role


def test_web_probes_ask_the_apps_health_endpoint(docs: list[dict[str, Any]]) -> None:
    from web.pages import router

    (container,) = containers(deployments(docs)["web"]["spec"]["template"]["spec"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    # The pages router is mounted at the root (web/app.py) and /healthz needs no session there.
    assert "/healthz" in {getattr(route, "path", None) for route in router.routes}


def test_store_secret_is_the_one_cloudnativepg_creates(docs: list[dict[str, Any]]) -> None:
    (cluster,) = of_kind(docs, "Cluster")
    assert set(OPERATOR_SECRETS) == {f"{cluster['metadata']['name']}-app"}
    assert cluster["spec"]["enableSuperuserAccess"] is False


def test_configmaps_are_generated_with_content_hashes(docs: list[dict[str, Any]]) -> None:
    # A changed setting renames its ConfigMap, and so rolls the pods that read it.
    for name in ("orbweaver-config", "orbweaver-s3-config"):
        assert generated(docs, "ConfigMap", name)["metadata"]["name"] != name


def test_an_overlay_without_postgres_keeps_the_roles_and_drops_the_cluster(tmp_path: Path) -> None:
    # The switch to an external database that k8s/README.md describes: list app and kafka, not base.
    overlay = tmp_path / "external-db"
    overlay.mkdir()
    # kustomize takes no absolute path to another kustomization: name them relative to the overlay.
    app, kafka = (os.path.relpath(K8S / "base" / part, overlay) for part in ("app", "kafka"))
    (overlay / "kustomization.yaml").write_text(f"resources:\n  - {app}\n  - {kafka}\n", encoding="utf-8")
    docs = build(overlay)
    assert of_kind(docs, "Cluster") == []
    policies = {p["metadata"]["name"] for p in of_kind(docs, "NetworkPolicy")}
    assert not policies & {"orbweaver-to-postgres", "postgres-ingress", "postgres-egress"}
    assert "orbweaver-db-app" in referenced_secrets(docs)
    assert sorted(deployments(docs)) == sorted(ROLES)
