"""Deployment tests: the Dockerfile's invariants, checked statically (no container engine needed)."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.settings import load
from orbweaver.settings import Settings
from tests.unit.k8s.kustomize import split_image
from tests.unit.k8s.manifests import ROOT, dockerfile_uid

COMPILERS = ("build-essential", "gcc", "g++", "clang", "make", "cmake", "cargo", "rustc")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages of a Dockerfile, with line continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            stages.append(Stage(base=parts[0], name=parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None))
        elif keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            assert stages, f"{keyword} before any FROM"
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


def resolve(base: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], base)


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def test_bases_are_pinned_slim_python_311(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    args, stages = dockerfile
    assert [s.name for s in stages] == ["build", "runtime"]
    for stage in stages:
        image = resolve(stage.base, args)
        name, tag, digest = split_image(image)
        assert name in ("python", "docker.io/library/python"), image
        assert tag is not None and tag != "latest", f"{image} is not pinned to a tag"
        assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), f"{image} is not a slim Python 3.11 patch release"
        assert digest is None or digest.startswith("sha256:")
    assert len({resolve(s.base, args) for s in stages}) == 1, "build and runtime stages must share their Python"


def test_runtime_stage_runs_as_a_fixed_non_root_user(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    runtime = stages[-1]
    users = runtime.all("USER")
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, f"USER {users[-1]}: give a numeric non-root UID"
    assert gid.isdigit() and int(gid) > 0
    assert dockerfile_uid() == int(uid)
    # runAsNonRoot can only be verified by the kubelet for a numeric USER; the account must exist too.
    assert any(f"--uid {uid}" in run for run in runtime.all("RUN"))


def test_runtime_stage_has_no_build_tools_and_installs_only_built_wheels(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    build, runtime = stages
    runs = " ".join(runtime.all("RUN"))
    assert "apt-get install" not in runs and "apk add" not in runs
    for tool in COMPILERS:
        assert not re.search(rf"(^|\s){re.escape(tool)}(\s|$)", runs), f"{tool} in the runtime stage"
    installs = [r for r in runtime.all("RUN") if "pip install" in r]
    assert len(installs) == 1
    assert "--no-index" in installs[0] and "from=build" in installs[0]
    assert '"orbweaver[all]"' in installs[0]
    # Both steps are held to the lock, so the image has the versions the tests ran with.
    assert "-c /wheels/lock.txt" in installs[0]
    assert any('pip wheel --wheel-dir /wheels -c requirements/test.txt ".[all]"' in r
               and "cp requirements/test.txt /wheels/lock.txt" in r for r in build.all("RUN"))
    assert not runtime.all("COPY"), "the runtime stage copies nothing; wheels are mounted for the install"


def test_entrypoint_is_the_orbweaver_script(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    (entrypoint,) = stages[-1].all("ENTRYPOINT")
    command = json.loads(entrypoint)  # exec form: signals reach orbweaver, not a shell
    assert command == ["orbweaver"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["orbweaver"] == "orbweaver.cli:run"


def test_no_healthcheck_because_kubernetes_probes_each_role(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    # Kubernetes ignores an image's HEALTHCHECK; k8s/ probes every role (test_manifests.py). Saying
    # NONE keeps a base image's check from being inherited.
    _, stages = dockerfile
    assert stages[-1].all("HEALTHCHECK") == ["NONE"]


def test_every_package_is_copied_into_the_build(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    copies = {c.split()[0] for c in stages[0].all("COPY")}
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    assert copies == packages | {"pyproject.toml", "requirements/test.txt"}, "COPY every package and the lock"
    assert any(c.startswith("pyproject.toml README.md") for c in stages[0].all("COPY"))


def test_image_environment_is_accepted_by_settings(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    env: dict[str, str] = {}
    for line in stages[-1].all("ENV"):
        for name, value in re.findall(r"(\w+)=(\S+)", line):
            env[name] = value
    ours = {k: v for k, v in env.items() if k.startswith("ORBWEAVER_")}
    assert ours
    settings = load(Settings, environ=ours)
    assert str(settings.core.data_dir) == env["HOME"] == "/var/lib/orbweaver"


def ignored(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern that matches a path or a parent of it wins."""
    result = False
    parts = path.split("/")
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.rstrip("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if fnmatch.fnmatchcase(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(parts[depth - 1], pattern[3:])
            ):
                result = not negate
                break
    return result


def test_dockerignore_sends_only_the_sources() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    for path in ("pyproject.toml", "README.md", "requirements/test.txt", "core/settings.py", "orbweaver/cli.py",
                 "web/__init__.py", "core/store/migrations/versions/0001_initial_schema.py"):
        assert not ignored(patterns, path), path
    for path in (".venv/bin/python", ".git/config", "tests/conftest.py", "demo-output/outbox/a.eml",
                 ".orbweaver/bus.sqlite3", "core/__pycache__/settings.cpython-311.pyc", "k8s/README.md",
                 "orbweaver.egg-info/PKG-INFO", "benchmarks/results/pipeline.json", "requirements/demo.txt"):
        assert ignored(patterns, path), path
    assert all(Path(ROOT / p.lstrip("!")).exists() for p in patterns if p.startswith("!"))
