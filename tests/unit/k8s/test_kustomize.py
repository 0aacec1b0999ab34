"""Tests of the small Kustomize renderer the manifest tests build k8s/ with."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.k8s.kustomize import KustomizeError, build, content_hash, json6902, merge_patch, split_image

K8S = Path(__file__).resolve().parents[3] / "k8s"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def by_kind_name(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


DEPLOYMENT = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: app
    spec:
      selector:
        matchLabels: {app: x}
      template:
        metadata:
          labels: {app: x}
        spec:
          containers:
            - name: main
              image: example/app
              env:
                - {name: A, value: "1"}
                - name: PASSWORD
                  valueFrom:
                    secretKeyRef: {name: creds, key: PASSWORD}
              envFrom:
                - configMapRef: {name: cfg}
              volumeMounts:
                - {name: conf, mountPath: /etc/conf}
            - name: side
              image: example/side:1.0
          volumes:
            - name: conf
              configMap: {name: cfg}
            - name: tls
              secret: {secretName: creds}
    """


def test_hashes_match_kustomize_for_configmaps_and_secrets() -> None:
    # Reference suffixes printed by kustomize v5.5.0 (kubectl kustomize) for these objects; the URL
    # holds the characters Go's JSON encoder escapes.
    cm = {"kind": "ConfigMap", "metadata": {"name": "cfg"},
          "data": {"QUOTED": "spaced value", "URL": "kafka://k:9092?a=1&b=<2>"}}
    secret = {"kind": "Secret", "metadata": {"name": "creds"}, "type": "Opaque",
              "data": {"PASSWORD": "cA==", "USER": "dQ=="}}
    assert content_hash(cm) == "d7f4k6689b"
    assert content_hash(secret) == "chb4496m4d"
    assert content_hash({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}) == "bdg947hgcc"


def test_generators_namespace_and_reference_rewrites(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "kustomization.yaml": """\
            namespace: ns1
            resources: [deployment.yaml]
            configMapGenerator:
              - name: cfg
                literals:
                  - URL=kafka://k:9092?a=1&b=<2>
                  - QUOTED="spaced value"
            secretGenerator:
              - name: creds
                literals: [USER=u, PASSWORD=p]
            """,
        "deployment.yaml": DEPLOYMENT,
    })
    docs = by_kind_name(build(root))
    assert set(docs) == {("Deployment", "app"), ("ConfigMap", "cfg-d7f4k6689b"), ("Secret", "creds-chb4496m4d")}
    cm = docs[("ConfigMap", "cfg-d7f4k6689b")]
    assert cm["data"] == {"URL": "kafka://k:9092?a=1&b=<2>", "QUOTED": "spaced value"}
    assert cm["metadata"]["namespace"] == "ns1"
    pod = docs[("Deployment", "app")]["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert main["envFrom"][0]["configMapRef"]["name"] == "cfg-d7f4k6689b"
    assert main["env"][1]["valueFrom"]["secretKeyRef"]["name"] == "creds-chb4496m4d"
    assert pod["volumes"][0]["configMap"]["name"] == "cfg-d7f4k6689b"
    assert pod["volumes"][1]["secret"]["secretName"] == "creds-chb4496m4d"


def test_reference_in_another_namespace_is_not_rewritten(tmp_path: Path) -> None:
    # kustomize renames a reference only to an object of the referrer's own namespace.
    root = write(tmp_path, {
        "base/kustomization.yaml": "namespace: apps\nresources: [deployment.yaml]\n",
        "base/deployment.yaml": DEPLOYMENT,
        "overlay/kustomization.yaml": """\
            resources: [../base]
            configMapGenerator:
              - name: cfg
                literals: [K=V]
            """,
    })
    docs = by_kind_name(build(root / "overlay"))
    cm_names = [name for kind, name in docs if kind == "ConfigMap"]
    assert cm_names == ["cfg-" + content_hash({"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"K": "V"}})]
    pod = docs[("Deployment", "app")]["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"][0]["configMapRef"]["name"] == "cfg"


def test_generator_merge_replace_and_disabled_suffix(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "base/kustomization.yaml": """\
            configMapGenerator:
              - name: cfg
                literals: [A=1, B=2]
              - name: other
                literals: [X=1]
            """,
        "overlay/kustomization.yaml": """\
            resources: [../base]
            configMapGenerator:
              - name: cfg
                behavior: merge
                literals: [B=3, C=4]
              - name: other
                behavior: replace
                options:
                  disableNameSuffixHash: true
                literals: [Y=2]
            """,
    })
    docs = build(root / "overlay")
    data = {d["metadata"]["name"].rsplit("-", 1)[0] if d["metadata"]["name"] != "other" else "other": d["data"]
            for d in docs}
    assert data == {"cfg": {"A": "1", "B": "3", "C": "4"}, "other": {"Y": "2"}}
    merged = next(d for d in docs if d["metadata"]["name"].startswith("cfg-"))
    assert merged["metadata"]["name"] == "cfg-" + content_hash(merged)


def test_generator_errors(tmp_path: Path) -> None:
    write(tmp_path, {
        "twice/kustomization.yaml": """\
            configMapGenerator:
              - {name: cfg, literals: [A=1]}
              - {name: cfg, literals: [A=2]}
            """,
        "merge-missing/kustomization.yaml": """\
            configMapGenerator:
              - {name: cfg, behavior: merge, literals: [A=1]}
            """,
        "bad-literal/kustomization.yaml": """\
            configMapGenerator:
              - {name: cfg, literals: [NOEQUALS]}
            """,
        "files/kustomization.yaml": """\
            configMapGenerator:
              - {name: cfg, files: [app.conf]}
            """,
    })
    for case, message in [("twice", "already exists"), ("merge-missing", "not in the resources"),
                          ("bad-literal", "not KEY=VALUE"), ("files", "unsupported ConfigMap generator")]:
        with pytest.raises(KustomizeError, match=message):
            build(tmp_path / case)


def test_labels_images_and_cluster_scoped_kinds(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "kustomization.yaml": """\
            namespace: ns1
            labels:
              - pairs: {team: t}
            images:
              - {name: example/app, newName: registry.local:5000/app, newTag: "2.1"}
              - {name: example/side, digest: "sha256:0123abcd"}
            resources: [deployment.yaml, namespace.yaml]
            """,
        "deployment.yaml": DEPLOYMENT,
        "namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns1\n",
    })
    docs = by_kind_name(build(root))
    deployment = docs[("Deployment", "app")]
    assert deployment["metadata"]["labels"] == {"team": "t"}
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "x"}}  # selectors untouched
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "x"}  # templates untouched
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == ["registry.local:5000/app:2.1", "example/side@sha256:0123abcd"]
    namespace = docs[("Namespace", "ns1")]
    assert "namespace" not in namespace["metadata"]
    assert namespace["metadata"]["labels"] == {"team": "t"}


def test_split_image() -> None:
    assert split_image("app") == ("app", None, None)
    assert split_image("registry:5000/org/app:1.2") == ("registry:5000/org/app", "1.2", None)
    assert split_image("app:1@sha256:abcd") == ("app", "1", "sha256:abcd")


def test_strategic_merge_patch_by_name(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "kustomization.yaml": """\
            resources: [deployment.yaml, topic.yaml]
            patches:
              - path: patch.yaml
            """,
        "deployment.yaml": DEPLOYMENT,
        "topic.yaml": """\
            apiVersion: kafka.strimzi.io/v1beta2
            kind: KafkaTopic
            metadata: {name: t}
            spec:
              partitions: 3
              config: {retention.ms: 1, cleanup.policy: delete}
              list: [1, 2, 3]
            """,
        "patch.yaml": """\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: app}
            spec:
              replicas: 2
              template:
                spec:
                  containers:
                    - name: main
                      env:
                        - {name: A, value: "2"}
                        - {name: B, value: "3"}
                    - name: extra
                      image: example/extra:1
            ---
            apiVersion: kafka.strimzi.io/v1beta2
            kind: KafkaTopic
            metadata: {name: t}
            spec:
              config: {cleanup.policy: null, min.insync.replicas: 2}
              list: [9]
            """,
    })
    docs = by_kind_name(build(root))
    spec = docs[("Deployment", "app")]["spec"]
    assert spec["replicas"] == 2
    containers = spec["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "side", "extra"]
    assert containers[0]["image"] == "example/app"
    assert containers[0]["env"][0] == {"name": "A", "value": "2"}
    assert [e["name"] for e in containers[0]["env"]] == ["A", "PASSWORD", "B"]
    topic = docs[("KafkaTopic", "t")]["spec"]
    # A custom resource gets JSON merge patch: its lists are replaced, null deletes a key.
    assert topic == {"partitions": 3, "config": {"retention.ms": 1, "min.insync.replicas": 2}, "list": [9]}


def test_json6902_patch_with_target(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "kustomization.yaml": """\
            resources: [topics.yaml]
            patches:
              - target: {kind: KafkaTopic, name: "media-.*"}
                patch: |-
                  - {op: test, path: /spec/replicas, value: 3}
                  - {op: replace, path: /spec/replicas, value: 1}
                  - {op: add, path: /spec/config/min.insync.replicas, value: 1}
                  - {op: remove, path: /spec/config/segment.ms}
            """,
        "topics.yaml": """\
            apiVersion: kafka.strimzi.io/v1beta2
            kind: KafkaTopic
            metadata: {name: media-fetched}
            spec: {replicas: 3, config: {segment.ms: 5}}
            ---
            apiVersion: kafka.strimzi.io/v1beta2
            kind: KafkaTopic
            metadata: {name: notice-requests}
            spec: {replicas: 3, config: {segment.ms: 5}}
            """,
    })
    docs = by_kind_name(build(root))
    assert docs[("KafkaTopic", "media-fetched")]["spec"] == {"replicas": 1, "config": {"min.insync.replicas": 1}}
    assert docs[("KafkaTopic", "notice-requests")]["spec"] == {"replicas": 3, "config": {"segment.ms": 5}}


def test_json6902_operations_and_errors() -> None:
    doc = {"a": {"list": [1, 2], "x~y/z": 1}}
    assert json6902(doc, [{"op": "add", "path": "/a/list/-", "value": 3}])["a"]["list"] == [1, 2, 3]
    assert json6902(doc, [{"op": "add", "path": "/a/list/0", "value": 0}])["a"]["list"] == [0, 1, 2]
    assert json6902(doc, [{"op": "remove", "path": "/a/list/0"}])["a"]["list"] == [2]
    assert json6902(doc, [{"op": "replace", "path": "/a/x~0y~1z", "value": 2}])["a"]["x~y/z"] == 2
    assert doc == {"a": {"list": [1, 2], "x~y/z": 1}}  # the input is left alone
    cases: list[tuple[list[Any], str]] = [
        ([{"op": "replace", "path": "/a/missing", "value": 1}], "does not exist"),
        ([{"op": "test", "path": "/a/list/0", "value": 9}], "test failed"),
        ([{"op": "move", "from": "/a", "path": "/b"}], "unsupported JSON 6902 op"),
        ([{"path": "/a"}], "not a JSON 6902 operation"),
        ([{"op": "add", "path": "/a/list/7", "value": 1}], "out of range"),
    ]
    for ops, message in cases:
        with pytest.raises(KustomizeError, match=message):
            json6902(doc, ops)


def test_merge_patch_rejects_directives_and_keyless_items() -> None:
    with pytest.raises(KustomizeError, match="directives"):
        merge_patch({"a": 1}, {"$patch": "delete"}, strategic=True)
    with pytest.raises(KustomizeError, match="merge key"):
        merge_patch({"containers": [{"name": "a"}]}, {"containers": [{"image": "x"}]}, strategic=True)


def test_build_errors(tmp_path: Path) -> None:
    write(tmp_path, {
        "unknown-field/kustomization.yaml": "commonAnnotations: {a: b}\n",
        "missing-resource/kustomization.yaml": "resources: [nope.yaml]\n",
        "no-kustomization/empty.txt": "",
        "dangling-patch/kustomization.yaml": "resources: [d.yaml]\npatches:\n  - path: p.yaml\n",
        "dangling-patch/d.yaml": DEPLOYMENT,
        "dangling-patch/p.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: other}\nspec: {}\n",
        "no-target/kustomization.yaml": "resources: [d.yaml]\npatches:\n  - target: {kind: Service}\n    patch: '[]'\n",
        "no-target/d.yaml": DEPLOYMENT,
        "json-without-target/kustomization.yaml": "resources: [d.yaml]\npatches:\n  - patch: '[]'\n",
        "json-without-target/d.yaml": DEPLOYMENT,
        "duplicate/kustomization.yaml": "resources: [d.yaml, e.yaml]\n",
        "duplicate/d.yaml": DEPLOYMENT,
        "duplicate/e.yaml": DEPLOYMENT,
        "include-selectors/kustomization.yaml": "labels:\n  - pairs: {a: b}\n    includeSelectors: true\n",
    })
    for case, message in [
        ("unknown-field", "unsupported kustomization field"),
        ("missing-resource", "does not exist"),
        ("no-kustomization", "has no kustomization.yaml"),
        ("dangling-patch", "matches no resource"),
        ("no-target", "matches no resource"),
        ("json-without-target", "needs a target"),
        ("duplicate", "declared twice"),
        ("include-selectors", "includeSelectors"),
    ]:
        with pytest.raises(KustomizeError, match=message):
            build(tmp_path / case)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_renders_like_kubectl_kustomize(overlay: str) -> None:
    """Where kubectl is installed, its kustomize must build exactly what this renderer builds."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the renderer's own tests above still run")
    out = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True,
                         check=True, timeout=120)
    expected = by_kind_name([d for d in yaml.safe_load_all(out.stdout) if d])
    assert by_kind_name(build(K8S / "overlays" / overlay)) == expected
