"""Worker observability, top of the stack: the ``/metrics`` and ``/healthz`` endpoints of ``orbweaver worker``.

One small HTTP server per worker process serves prometheus_client's WSGI app on ``/metrics``
and a JSON health answer on ``/healthz``. A :class:`WorkerMonitor` thread refreshes, every
``check_every_s``, the consumer-lag gauges (which also proves the bus answers) and pings the
store; ``/healthz`` only reads what it found, so a probe never waits on a broker.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import structlog
from prometheus_client import make_wsgi_app
from sqlalchemy import text

from core.bus import Bus, ConsumeStats
from core.bus.metrics import CONSUMER_LAG
from core.errors import OrbweaverError
from core.stages import StageSpec
from core.store import Store
from orbweaver.worker_settings import WorkerSettings

log = structlog.get_logger(__name__)


@dataclass
class Check:
    """The last answer of one dependency check."""

    ok: bool
    detail: str
    at: float
    """``time.monotonic()`` when it was answered."""


class WorkerMonitor:
    """Keeps a worker's lag gauges and dependency checks fresh, and judges its health.

    Args:
        group: The consumer group the worker runs in.
        topics: The topics it consumes.
        bus: Its bus (asked for lag, which doubles as the bus check).
        store: Its store (pinged).
        stats: The consume loop's live counts (``last_poll`` tells whether it is polling).
        settings: Thresholds and the check interval.
        clock: Monotonic time source (tests pass a fake).

    """

    def __init__(
        self,
        group: str,
        topics: Sequence[str],
        bus: Bus,
        store: Store,
        stats: ConsumeStats,
        settings: WorkerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.group = group
        self.topics = [str(t) for t in topics]
        self.bus = bus
        self.store = store
        self.stats = stats
        self.settings = settings
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._bus_check: Check | None = None
        self._store_check: Check | None = None
        self._checking_since: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def for_stage(
        cls, spec: StageSpec, bus: Bus, store: Store, stats: ConsumeStats, settings: WorkerSettings
    ) -> WorkerMonitor:
        """The monitor of a stage's worker: its group's lag on every topic its spec consumes."""
        return cls(spec.group, spec.topics, bus, store, stats, settings)

    def refresh(self) -> None:
        """Run one round of checks: lag of every topic (into the gauges), then a store ping."""
        with self._lock:
            self._checking_since = self._clock()
        bus_check = self._check_bus()
        store_check = self._check_store()
        with self._lock:
            self._bus_check, self._store_check = bus_check, store_check
            self._checking_since = None

    def _check_bus(self) -> Check:
        try:
            for topic in self.topics:
                for partition, lag in self.bus.lag_by_partition(topic, self.group).items():
                    CONSUMER_LAG.labels(self.group, topic, str(partition)).set(lag)
        except OrbweaverError as exc:
            log.warning("worker.bus_check_failed", group=self.group, error=str(exc))
            return Check(False, f"bus unreachable: {exc}", self._clock())
        return Check(True, "ok", self._clock())

    def _check_store(self) -> Check:
        try:
            with self.store.session() as s:
                s.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means the same thing here: no store
            error = str(exc) if isinstance(exc, OrbweaverError) else f"{type(exc).__name__}: {exc}"
            log.warning("worker.store_check_failed", group=self.group, error=error)
            return Check(False, f"store unreachable: {error}", self._clock())
        return Check(True, "ok", self._clock())

    def health(self) -> tuple[bool, dict[str, object]]:
        """Whether the worker is healthy, and a JSON-ready account of why (not).

        Healthy means: the consume loop fetched within ``healthy_poll_age_s``, and the last
        bus and store checks succeeded and are not stuck. Before its first fetch a worker is
        starting, which counts as unhealthy (not ready).
        """
        now = self._clock()
        with self._lock:
            bus_check, store_check, checking_since = self._bus_check, self._store_check, self._checking_since
        reasons: list[str] = []
        last_poll = self.stats.last_poll
        poll_age = None if last_poll is None else round(now - last_poll, 3)
        if poll_age is None:
            reasons.append(f"starting: no fetch yet after {now - self._started:.1f}s")
        elif poll_age > self.settings.healthy_poll_age_s:
            reasons.append(f"consume loop last fetched {poll_age:.1f}s ago")
        if checking_since is not None and now - checking_since > self.settings.check_every_s:
            reasons.append(f"dependency check has not answered for {now - checking_since:.1f}s")
        for name, check in (("bus", bus_check), ("store", store_check)):
            if check is None:
                reasons.append(f"{name} not checked yet")
            elif not check.ok:
                reasons.append(check.detail)
        body: dict[str, object] = {
            "status": "ok" if not reasons else "unhealthy",
            "group": self.group,
            "reasons": reasons,
            "last_fetch_age_s": poll_age,
            "handled": self.stats.handled,
            "dead_lettered": self.stats.dead_lettered,
        }
        return not reasons, body

    def start(self) -> None:
        """Check now, then every ``check_every_s`` on a daemon thread until :meth:`stop`."""

        def loop() -> None:
            while True:
                try:
                    self.refresh()
                except Exception as exc:  # a monitoring bug must not end the monitoring
                    log.error("worker.monitor_failed", error=f"{type(exc).__name__}: {exc}")
                if self._stop.wait(self.settings.check_every_s):
                    return

        self._thread = threading.Thread(target=loop, name="worker-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the check thread (a check in progress is left to finish on its own)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)


def health_app(health: Callable[[], tuple[bool, dict[str, object]]]) -> WSGIApplication:
    """A WSGI app: ``/healthz`` answers 200 or 503 with JSON; ``/metrics`` is Prometheus's exposition."""
    metrics = make_wsgi_app()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            ok, body = health()
            payload = json.dumps(body).encode()
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        if path in ("/metrics", "/"):
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        # Probes hit this every few seconds; access lines would drown the worker's own log.
        pass


class HealthServer:
    """Serves an app on ``host:port`` from a daemon thread.

    Args:
        host: Address to listen on.
        port: Port (0 picks a free one; :attr:`port` tells which).
        app: The WSGI app (see :func:`health_app`).

    """

    def __init__(self, host: str, port: int, app: WSGIApplication) -> None:
        self._server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-server", daemon=True)

    def start(self) -> HealthServer:
        """Start serving; returns itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
