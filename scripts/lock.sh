#!/usr/bin/env bash
# Regenerates the lock files in requirements/ from pyproject.toml's ranges (`make lock`).
# Every direct and transitive dependency is pinned for CPython 3.11 on Linux x86-64, one file per
# install profile; demo.txt and bench.txt are resolved with test.txt as constraints, so a package has
# the same version in every profile. uv does the resolving; it is pinned here and lives in its own
# tool venv, so the project's venv never depends on it.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.10
PYTHON="${PYTHON:-python3.11}"
TOOLS=.venv-lock
if [ ! -x "$TOOLS/bin/uv" ] || [ "$("$TOOLS/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    "$PYTHON" -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet "uv==$UV_VERSION"
fi
uv=("$TOOLS/bin/uv" pip compile --python-version 3.11 --python-platform x86_64-manylinux_2_28
    --no-header --annotation-style line "${@}")

header() {
    printf '# Locked for CPython 3.11, Linux x86-64: %s. Regenerate with `make lock`; do not edit.\n' "$1"
}

mkdir -p requirements
{ header "pyproject.toml [test] (make test)"; "${uv[@]}" pyproject.toml requirements/build.in --extra test 2>/dev/null; } > requirements/test.txt
# The demo's profile is every extra the pipeline runs with except the browser for --render crawls.
demo_extras=(--extra crawler --extra hashing --extra matcher --extra kafka --extra s3 --extra postgres --extra notifier
             --extra web)
{ header "pyproject.toml [all] less [render] (make demo)"; "${uv[@]}" pyproject.toml requirements/build.in \
    "${demo_extras[@]}" -c requirements/test.txt 2>/dev/null; } \
    > requirements/demo.txt
{ header "pyproject.toml [test,bench] (make bench)"; "${uv[@]}" pyproject.toml requirements/build.in --extra test --extra bench \
    -c requirements/test.txt 2>/dev/null; } > requirements/bench.txt
echo "lock: $(grep -c '==' requirements/demo.txt) demo, $(grep -c '==' requirements/test.txt) test," \
     "$(grep -c '==' requirements/bench.txt) bench packages pinned in requirements/"
