"""Deployment tests: a small Kustomize renderer, enough to build k8s/ without a kustomize binary.

No Python implementation of Kustomize exists on PyPI (the ``kustomize`` package there writes
manifests from Python; it does not build kustomizations), and a kubectl binary is not something the
test suite can install. So this renders the subset of Kustomize that ``k8s/`` uses, the way
kustomize v5 does it, and refuses everything else with :class:`KustomizeError` rather than ignoring
it: a field this renderer does not know would otherwise make the tests validate something other
than what ``kubectl kustomize`` deploys. Where ``kubectl`` is on the PATH, a test compares this
renderer's output with its built-in kustomize.

Supported: ``resources`` (files and directories), ``namespace``, ``labels`` (metadata only),
``images``, ``configMapGenerator`` and ``secretGenerator`` (``literals``; ``behavior`` create, merge
or replace; ``options.disableNameSuffixHash``), ``patches`` (strategic merge or JSON 6902, from
``path`` or inline ``patch``, with an optional ``target``), content-hash name suffixes on generated
ConfigMaps and Secrets, and the rewriting of pod templates' references to them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "namespace", "labels", "resources", "images", "configMapGenerator",
     "secretGenerator", "patches"}
)

CLUSTER_SCOPED_KINDS = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
     "StorageClass", "PriorityClass", "IngressClass", "ValidatingWebhookConfiguration",
     "MutatingWebhookConfiguration", "APIService", "RuntimeClass"}
)
"""Kinds the namespace transformer leaves alone."""

NATIVE_GROUPS = frozenset(
    {"", "apps", "batch", "policy", "networking.k8s.io", "autoscaling", "rbac.authorization.k8s.io"}
)
"""API groups whose kinds kustomize patches with Kubernetes' strategic-merge keys; other kinds
(custom resources) get JSON merge patch semantics, where a list replaces the list."""

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "topologySpreadConstraints": "topologyKey",
}
"""Strategic-merge keys of the native list fields patched in k8s/ (from the Kubernetes API types).
A list field not named here is replaced by the patch's list, as for the native types' atomic lists;
``ports`` is left out on purpose: its merge key differs between containers and Services."""


class KustomizeError(ValueError):
    """A kustomization this renderer cannot build exactly as kustomize would."""


@dataclass
class Resource:
    """One rendered object plus what kustomize tracks about it between steps."""

    doc: dict[str, Any]
    original_name: str
    """The name before any hash suffix: what references and later generators use."""
    hash_suffix: bool = False
    """A generated ConfigMap or Secret that gets a content-hash suffix when the build ends."""

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.doc.get("metadata", {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        ns = self.doc.get("metadata", {}).get("namespace")
        return None if ns is None else str(ns)

    @property
    def group_version(self) -> tuple[str, str]:
        api = str(self.doc.get("apiVersion", ""))
        group, _, version = api.rpartition("/")
        return group, version


@dataclass
class _Build:
    resources: list[Resource] = field(default_factory=list)


def build(directory: str | Path) -> list[dict[str, Any]]:
    """Render the kustomization in ``directory`` into its list of Kubernetes objects.

    Raises:
        KustomizeError: On a missing file, an unsupported field, an ambiguous or dangling patch, or
            anything else kustomize would reject or this renderer does not implement.
    """
    result = _build_dir(Path(directory), stack=())
    _add_hash_suffixes(result.resources)
    _fix_references(result.resources)
    return [r.doc for r in result.resources]


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
    for doc in docs:
        if not isinstance(doc, dict):
            raise KustomizeError(f"{path}: a document is not a mapping")
    return docs


def _kustomization_file(directory: Path) -> Path:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise KustomizeError(f"{directory} has no kustomization.yaml")


def _build_dir(directory: Path, stack: tuple[Path, ...]) -> _Build:
    directory = directory.resolve()
    if directory in stack:
        raise KustomizeError(f"cycle of kustomizations through {directory}")
    kfile = _kustomization_file(directory)
    docs = load_documents(kfile)
    if len(docs) != 1:
        raise KustomizeError(f"{kfile} must hold exactly one document")
    kust = docs[0]
    unknown = set(kust) - SUPPORTED_FIELDS
    if unknown:
        raise KustomizeError(f"{kfile}: unsupported kustomization field(s) {sorted(unknown)}")
    if kust.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeError(f"{kfile}: kind {kust.get('kind')!r} is not supported (only Kustomization)")

    out = _Build()
    for entry in kust.get("resources") or []:
        target = directory / str(entry)
        if target.is_dir():
            out.resources.extend(_build_dir(target, (*stack, directory)).resources)
        elif target.is_file():
            out.resources.extend(Resource(doc=d, original_name=_name_of(d, target)) for d in load_documents(target))
        else:
            raise KustomizeError(f"{kfile}: resource {entry!r} does not exist")
    _check_unique(out.resources, kfile)

    namespace = kust.get("namespace")
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for gen in kust.get(key) or []:
            _generate(out.resources, kind, gen, namespace, kfile)

    # kustomize's order of built-in transformers: patches, namespace, labels, images.
    for entry in kust.get("patches") or []:
        _apply_patch_entry(out.resources, entry, directory, kfile)
    if namespace is not None:
        for res in out.resources:
            if res.kind not in CLUSTER_SCOPED_KINDS:
                res.doc.setdefault("metadata", {})["namespace"] = str(namespace)
    for spec in kust.get("labels") or []:
        _apply_labels(out.resources, spec, kfile)
    for image in kust.get("images") or []:
        _apply_image(out.resources, image, kfile)
    return out


def _name_of(doc: dict[str, Any], origin: Path) -> str:
    name = doc.get("metadata", {}).get("name")
    if not isinstance(name, str) or not name:
        raise KustomizeError(f"{origin}: a {doc.get('kind', 'resource')} has no metadata.name")
    return name


def _check_unique(resources: list[Resource], where: Path) -> None:
    seen: set[tuple[str, str, str | None]] = set()
    for res in resources:
        key = (res.kind, res.original_name, res.namespace)
        if key in seen:
            raise KustomizeError(f"{where}: {res.kind} {res.original_name!r} is declared twice")
        seen.add(key)


# Generators -------------------------------------------------------------------------------


def _parse_literal(source: str, where: Path) -> tuple[str, str]:
    key, sep, value = source.partition("=")
    if not sep or not key:
        raise KustomizeError(f"{where}: literal {source!r} is not KEY=VALUE")
    # kustomize strips one pair of matching quotes around the value.
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key, value


def _generate(resources: list[Resource], kind: str, gen: dict[str, Any], namespace: Any, where: Path) -> None:
    allowed = {"name", "literals", "behavior", "options", "type"}
    unknown = set(gen) - allowed
    if unknown:
        raise KustomizeError(f"{where}: unsupported {kind} generator field(s) {sorted(unknown)}")
    options = gen.get("options") or {}
    if set(options) - {"disableNameSuffixHash"}:
        raise KustomizeError(f"{where}: unsupported generator option(s) {sorted(set(options))}")
    name = str(gen["name"])
    data: dict[str, str] = {}
    for literal in gen.get("literals") or []:
        key, value = _parse_literal(str(literal), where)
        data[key] = value
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()} if kind == "Secret" else data
    behavior = gen.get("behavior", "create")
    ns = None if namespace is None else str(namespace)
    existing = [r for r in resources if r.kind == kind and r.original_name == name and r.namespace == ns]
    if behavior == "create":
        if existing:
            raise KustomizeError(f"{where}: {kind} {name!r} already exists; use behavior merge or replace")
        doc: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
        if ns is not None:
            doc["metadata"]["namespace"] = ns
        if kind == "Secret":
            doc["type"] = str(gen.get("type", "Opaque"))
        doc["data"] = encoded
        resources.append(Resource(doc=doc, original_name=name,
                                  hash_suffix=not options.get("disableNameSuffixHash", False)))
    elif behavior in ("merge", "replace"):
        if len(existing) != 1:
            raise KustomizeError(f"{where}: {kind} {name!r} to {behavior} is not in the resources")
        target = existing[0]
        if behavior == "merge":
            target.doc.setdefault("data", {}).update(encoded)
        else:
            target.doc["data"] = encoded
        if "disableNameSuffixHash" in options:
            target.hash_suffix = not options["disableNameSuffixHash"]
    else:
        raise KustomizeError(f"{where}: unknown generator behavior {behavior!r}")


_HASH_ALPHABET = str.maketrans("013ae", "ghkmt")
"""kustomize swaps these hex digits for letters, so that a suffix never looks like a number."""


def _go_json(value: Any) -> str:
    """JSON as Go's encoding/json writes a map: sorted keys, no spaces, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def content_hash(doc: dict[str, Any]) -> str:
    """The 10-character suffix kustomize gives a generated ConfigMap or Secret for its content."""
    kind = doc["kind"]
    # kustomize looks the name up as one field literally called "metadata/name", finds none, and so
    # hashes an empty name: two generated objects with equal data get equal suffixes. A field it does
    # not find hashes as "".
    encoded: dict[str, Any] = {"kind": kind, "name": "", "data": doc.get("data", "")}
    if kind == "Secret":
        encoded["type"] = doc.get("type", "")
    elif kind != "ConfigMap":
        raise KustomizeError(f"no content hash for kind {kind}")
    digest = hashlib.sha256(_go_json(encoded).encode()).hexdigest()[:10]
    return digest.translate(_HASH_ALPHABET)


def _add_hash_suffixes(resources: list[Resource]) -> None:
    for res in resources:
        if res.hash_suffix:
            res.doc["metadata"]["name"] = f"{res.original_name}-{content_hash(res.doc)}"


def _pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = doc.get("kind")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return
    if kind == "Pod":
        yield spec
    elif kind == "CronJob":
        pod = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
        if isinstance(pod, dict):
            yield pod
    else:
        pod = spec.get("template", {}).get("spec") if isinstance(spec.get("template"), dict) else None
        if isinstance(pod, dict) and kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
            yield pod


def _references(pod: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(kind, holder, key) of every ConfigMap and Secret name a pod spec refers to."""
    for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                yield "ConfigMap", source["configMapKeyRef"], "name"
            if "secretKeyRef" in source:
                yield "Secret", source["secretKeyRef"], "name"
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                yield "ConfigMap", env_from["configMapRef"], "name"
            if "secretRef" in env_from:
                yield "Secret", env_from["secretRef"], "name"
    for volume in pod.get("volumes") or []:
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"], "name"
        if "secret" in volume:
            yield "Secret", volume["secret"], "secretName"
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                yield "ConfigMap", source["configMap"], "name"
            if "secret" in source:
                yield "Secret", source["secret"], "name"
    for pull in pod.get("imagePullSecrets") or []:
        yield "Secret", pull, "name"


def _fix_references(resources: list[Resource]) -> None:
    renamed = {(r.kind, r.original_name, r.namespace): r.name for r in resources if r.name != r.original_name}
    if not renamed:
        return
    for res in resources:
        for pod in _pod_specs(res.doc):
            for kind, holder, key in _references(pod):
                new = renamed.get((kind, str(holder.get(key)), res.namespace))
                if new is not None:
                    holder[key] = new


# Patches ----------------------------------------------------------------------------------


def _apply_patch_entry(resources: list[Resource], entry: dict[str, Any], directory: Path, where: Path) -> None:
    unknown = set(entry) - {"path", "patch", "target"}
    if unknown:
        raise KustomizeError(f"{where}: unsupported patch field(s) {sorted(unknown)}")
    if ("path" in entry) == ("patch" in entry):
        raise KustomizeError(f"{where}: a patch needs exactly one of path and patch")
    if "path" in entry:
        source = directory / str(entry["path"])
        if not source.is_file():
            raise KustomizeError(f"{where}: patch file {entry['path']!r} does not exist")
        docs = _load_patch(source.read_text(encoding="utf-8"), source)
    else:
        docs = _load_patch(str(entry["patch"]), where)
    target = entry.get("target")
    if len(docs) == 1 and isinstance(docs[0], list):
        if target is None:
            raise KustomizeError(f"{where}: a JSON 6902 patch needs a target")
        matched = _select(resources, target, where)
        for res in matched:
            res.doc = json6902(res.doc, docs[0])
        return
    for patch in docs:
        if not isinstance(patch, dict):
            raise KustomizeError(f"{where}: a strategic-merge patch must be a mapping")
        matched = _select(resources, target, where) if target is not None else _match_patch(resources, patch, where)
        for res in matched:
            body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
            meta = dict(body.get("metadata") or {})
            meta.pop("name", None)
            meta.pop("namespace", None)
            if meta:
                body["metadata"] = meta
            else:
                body.pop("metadata", None)
            group, _ = res.group_version
            res.doc = merge_patch(res.doc, body, strategic=group in NATIVE_GROUPS)


def _load_patch(text: str, where: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise KustomizeError(f"{where}: patch is not valid YAML: {exc}") from exc


def _select(resources: list[Resource], target: dict[str, Any], where: Path) -> list[Resource]:
    unknown = set(target) - {"kind", "name", "namespace", "group", "version"}
    if unknown:
        raise KustomizeError(f"{where}: unsupported patch target field(s) {sorted(unknown)}")
    matched = []
    for res in resources:
        group, version = res.group_version
        if "kind" in target and res.kind != target["kind"]:
            continue
        # kustomize matches a target's name as an anchored regular expression.
        if "name" in target and not re.fullmatch(str(target["name"]), res.original_name):
            continue
        if "namespace" in target and res.namespace != target["namespace"]:
            continue
        if "group" in target and group != target["group"]:
            continue
        if "version" in target and version != target["version"]:
            continue
        matched.append(res)
    if not matched:
        raise KustomizeError(f"{where}: patch target {target} matches no resource")
    return matched


def _match_patch(resources: list[Resource], patch: dict[str, Any], where: Path) -> list[Resource]:
    kind = patch.get("kind")
    meta = patch.get("metadata") or {}
    name = meta.get("name")
    if not kind or not name:
        raise KustomizeError(f"{where}: a strategic-merge patch without target needs kind and metadata.name")
    matched = [r for r in resources if r.kind == kind and r.original_name == name
               and ("namespace" not in meta or r.namespace == meta["namespace"])]
    if len(matched) != 1:
        what = "matches no resource" if not matched else "matches several resources"
        raise KustomizeError(f"{where}: patch of {kind} {name!r} {what}")
    return matched


def merge_patch(base: Any, patch: Any, *, strategic: bool, field_name: str | None = None) -> Any:
    """Apply a merge patch: maps merge key by key, ``null`` deletes a key.

    With ``strategic`` (Kubernetes' own kinds), lists named in :data:`MERGE_KEYS` merge item by item
    on their key; every other list, and every list of a custom resource, is replaced.
    """
    if isinstance(patch, dict) and isinstance(base, dict):
        if any(str(k).startswith("$") for k in patch):
            raise KustomizeError(f"strategic-merge directives are not supported: {sorted(patch)}")
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge_patch(out[key], value, strategic=strategic, field_name=key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if strategic and isinstance(patch, list) and isinstance(base, list) and field_name in MERGE_KEYS:
        key = MERGE_KEYS[field_name]
        out_list = [copy.deepcopy(item) for item in base]
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise KustomizeError(f"a {field_name} patch item has no merge key {key!r}")
            for i, existing in enumerate(out_list):
                if isinstance(existing, dict) and existing.get(key) == item[key]:
                    out_list[i] = merge_patch(existing, item, strategic=True)
                    break
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KustomizeError(f"JSON 6902 path {path!r} does not exist")
    return node


def json6902(doc: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    """Apply RFC 6902 operations add, remove, replace and test (all kustomize's k8s/ patches use)."""
    out = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise KustomizeError(f"not a JSON 6902 operation: {op!r}")
        kind, path = op["op"], str(op["path"])
        parts = _pointer(path)
        if not parts:
            raise KustomizeError("JSON 6902 operations on the whole document are not supported")
        parent = _walk(out, parts[:-1], path)
        last = parts[-1]
        if kind == "test":
            if _walk(out, parts, path) != op.get("value"):
                raise KustomizeError(f"JSON 6902 test failed at {path!r}")
        elif kind in ("replace", "remove"):
            _walk(out, parts, path)  # must exist
            if isinstance(parent, list):
                if kind == "remove":
                    del parent[int(last)]
                else:
                    parent[int(last)] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "add":
            if isinstance(parent, list):
                if last == "-":
                    parent.append(copy.deepcopy(op["value"]))
                elif last.isdigit() and int(last) <= len(parent):
                    parent.insert(int(last), copy.deepcopy(op["value"]))
                else:
                    raise KustomizeError(f"JSON 6902 add index {last!r} out of range at {path!r}")
            elif isinstance(parent, dict):
                parent[last] = copy.deepcopy(op["value"])
            else:
                raise KustomizeError(f"JSON 6902 add into a scalar at {path!r}")
        else:
            raise KustomizeError(f"unsupported JSON 6902 op {kind!r}")
    return out


# Labels and images ------------------------------------------------------------------------


def _apply_labels(resources: list[Resource], spec: dict[str, Any], where: Path) -> None:
    unknown = set(spec) - {"pairs", "includeSelectors", "includeTemplates"}
    if unknown:
        raise KustomizeError(f"{where}: unsupported labels field(s) {sorted(unknown)}")
    if spec.get("includeSelectors") or spec.get("includeTemplates"):
        raise KustomizeError(f"{where}: labels with includeSelectors or includeTemplates are not supported")
    pairs = {str(k): str(v) for k, v in (spec.get("pairs") or {}).items()}
    for res in resources:
        labels = res.doc.setdefault("metadata", {}).setdefault("labels", {})
        labels.update(pairs)


_IMAGE = re.compile(r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z0-9]+:[0-9a-fA-F]+))?$")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of a container image reference; a registry port is part of the name."""
    match = _IMAGE.match(image)
    if match is None:
        raise KustomizeError(f"not an image reference: {image!r}")
    return match["name"], match["tag"], match["digest"]


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _apply_image(resources: list[Resource], image: dict[str, Any], where: Path) -> None:
    unknown = set(image) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise KustomizeError(f"{where}: unsupported images field(s) {sorted(unknown)}")
    for res in resources:
        for container in _containers(res.doc):
            current = container.get("image")
            if not isinstance(current, str):
                continue
            name, tag, digest = split_image(current)
            if name != image["name"]:
                continue
            name = str(image.get("newName", name))
            if "newTag" in image:
                tag = str(image["newTag"])
            if "digest" in image:
                digest, tag = str(image["digest"]), None
            container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
