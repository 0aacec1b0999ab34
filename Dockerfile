# syntax=docker/dockerfile:1
#
# One image for every orbweaver role: the crawler, each stage worker, the web app and the schema
# migration all run `orbweaver <command>` from it; k8s/ picks the command per Deployment.
#
#   docker build -t ghcr.io/orbweaver/orbweaver:0.1.0 .
#
# The build stage has a compiler because pdqhash is published only as source; it turns orbweaver and
# every dependency of its "all" extra, at the versions the lock names, into wheels. The runtime stage
# starts again from the same Python base, installs those wheels without any index and without a
# compiler, and runs as a fixed non-root user (UID 10001, which k8s/ also names in each pod's securityContext).

# Pin the base; for reproducible builds pin its digest too (python:3.11.11-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
# The lock (`make lock`; test.txt pins every package of every extra): the image gets exactly the
# versions the tests ran with.
COPY requirements/test.txt ./requirements/test.txt
COPY core ./core
COPY crawler ./crawler
COPY hashing ./hashing
COPY matcher ./matcher
COPY review ./review
COPY notifier ./notifier
COPY web ./web
COPY orbweaver ./orbweaver
# orbweaver's own wheel and a wheel of every dependency at its locked version, compiled ones included;
# the lock travels with the wheels so the runtime install is held to it as well.
RUN python -m pip wheel --wheel-dir /wheels -c requirements/test.txt ".[all]" \
    && cp requirements/test.txt /wheels/lock.txt

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 orbweaver \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/orbweaver --no-create-home \
       --shell /usr/sbin/nologin orbweaver \
    && install --directory --owner=10001 --group=10001 --mode=0750 /var/lib/orbweaver
# The wheels are mounted for this one step, so they never become a layer of the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links=/wheels -c /wheels/lock.txt "orbweaver[all]"
USER 10001:10001
WORKDIR /var/lib/orbweaver
# The only folder orbweaver writes to (Kubernetes mounts an emptyDir here, the root filesystem
# being read-only); HOME points at it for libraries that keep caches there.
ENV HOME=/var/lib/orbweaver \
    ORBWEAVER_CORE__DATA_DIR=/var/lib/orbweaver
# 8000: `orbweaver serve`; 9100: a worker's /metrics and /healthz (--metrics-port 9100).
EXPOSE 8000 9100
# No HEALTHCHECK: Kubernetes ignores it and probes each role itself (k8s/: /healthz on the metrics
# port for workers, the HTTP port for the web app), and no single command fits every role.
HEALTHCHECK NONE
ENTRYPOINT ["orbweaver"]
CMD ["--help"]
