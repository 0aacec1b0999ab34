"""Hashing stage, around the hasher: bytes are decoded and hashed in worker processes killed when an item overruns.

The per-item time limit of :class:`~hashing.decode.Deadline` is checked between steps, and a
single step (one libjpeg call on a progressive JPEG whose scans repeat thousands of times) can
run for minutes. So every caller that hashes fetched or uploaded media (the ``hash`` command,
the hashing stage, ``POST /v1/media``) goes through a :class:`HashingPool`: a few long-lived
processes (``python -m hashing.pool``), each of which runs :func:`~hashing.hasher.compute_hashes`
on one body at a time. The parent waits at most ``HARD_LIMIT_FACTOR`` times the item's limit;
past that the worker is killed, the item gets its exact hashes (computed here: they never
decode) and a ``timeout`` error, and a fresh worker takes the dead one's place when one is next
needed. Workers are reused (no process per image); a body travels as one length-prefixed write
to the worker's stdin, the outcome comes back as JSON (hashes and reasons, never pixels).

Plain child processes rather than :mod:`multiprocessing`: nothing of the parent (its threads,
its ``__main__``) is copied or re-run, and the plan travels as JSON on the command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from queue import SimpleQueue
from types import TracebackType
from typing import IO, Any

from core.messages import HashValue
from hashing import registry
from hashing.base import Ability
from hashing.decode import DecodeFailure, DecodeLimits
from hashing.hasher import HashOutcome, HashPlan, compute_hashes
from hashing.video import VideoLimits, is_video

HARD_LIMIT_FACTOR = 1.25
"""A worker is killed this many times the item's time limit after it got the item. The margin
lets the cooperative deadline (checked between steps) end a merely slow item with what it did."""
DEFAULT_WORKERS = 2
STARTUP_LIMIT_S = 120.0
"""Longest wait for a new worker to import the hashing code (a busy machine is slow to start Python)."""
_FRAME = struct.Struct(">Q")


def _plan_json(plan: HashPlan) -> str:
    return json.dumps(asdict(plan))


def _plan_from_json(text: str) -> HashPlan:
    doc: dict[str, Any] = json.loads(text)
    doc["algorithms"] = tuple(doc["algorithms"])
    doc["limits"] = DecodeLimits(**doc["limits"])
    doc["video"] = VideoLimits(**doc["video"])
    return HashPlan(**doc)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _serve(plan: HashPlan) -> None:
    """Worker process: hash each body read from stdin until it closes; answers go to stdout."""
    # Ctrl-C reaches the whole process group; the parent decides what happens to its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    answers = os.fdopen(os.dup(1), "wb")
    # A library that prints must not corrupt the answers: fd 1 now goes to stderr.
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    # An empty answer first: imports are done, so the parent's clock may start with the first body.
    answers.write(_FRAME.pack(0))
    answers.flush()
    while True:
        header = _read_exactly(requests, _FRAME.size)
        if header is None:
            return
        data = _read_exactly(requests, _FRAME.unpack(header)[0])
        if data is None:
            return
        outcome = compute_hashes(data, plan=plan)
        doc = {"hashes": [h.model_dump() for h in outcome.hashes], "errors": outcome.errors}
        body = json.dumps(doc).encode()
        answers.write(_FRAME.pack(len(body)) + body)
        answers.flush()


def _die_with_parent() -> None:
    """End this worker soon after its parent dies, even in the middle of a decode.

    (Not ``PR_SET_PDEATHSIG``: Linux sends that when the parent *thread* that started the worker
    ends, and pools are filled from short-lived request threads.)
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class _Overrun(Exception):
    """The worker did not answer within the item's hard limit."""


class _Worker:
    """One worker process and the parent's ends of its pipes."""

    def __init__(self, plan: HashPlan) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hashing.pool", _plan_json(plan)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self.ready = False

    def run(self, data: bytes, limit_s: float) -> HashOutcome:
        """Hash ``data``; raise :class:`_Overrun` past ``limit_s``, ``EOFError`` if the worker died."""
        assert self.process.stdin is not None and self.process.stdout is not None
        if not self.ready:
            # Starting Python is not the item's time: wait for the worker's empty "ready" answer.
            try:
                self._read(STARTUP_LIMIT_S)
            except _Overrun:
                raise EOFError from None
            self.ready = True
        try:
            self.process.stdin.write(_FRAME.pack(len(data)))
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise EOFError from exc
        answer = self._read(limit_s)
        doc = json.loads(answer)
        return HashOutcome(hashes=[HashValue.model_validate(h) for h in doc["hashes"]], errors=list(doc["errors"]))

    def _read(self, limit_s: float) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + limit_s
        buf = bytearray()
        need = _FRAME.size
        header_done = False
        while True:
            while len(buf) < need:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise _Overrun
                chunk = os.read(fd, max(65536, need - len(buf)))
                if not chunk:
                    raise EOFError
                buf += chunk
            if header_done:
                return bytes(buf[_FRAME.size : need])
            need = _FRAME.size + _FRAME.unpack(bytes(buf[: _FRAME.size]))[0]
            header_done = True

    def stop(self) -> None:
        """Kill the process (it may be stuck in C code that no signal handler interrupts)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a killed worker's pipe may hold unsent bytes
                    stream.close()


def _stop_all(workers: set[_Worker]) -> None:
    for worker in list(workers):
        worker.stop()
    workers.clear()


class HashingPool:
    """A few hashing processes with a hard per-item deadline (see the module docstring).

    Thread-safe: callers in several threads share the workers; each call waits for a free one.

    Args:
        plan: What to compute; its limits give each item's time limit (videos: the video limit).
        workers: Processes to run at most (started on first use).
    """

    def __init__(self, plan: HashPlan, workers: int = DEFAULT_WORKERS) -> None:
        if workers < 1:
            raise ValueError(f"a hashing pool needs at least one worker, got {workers}")
        self.plan = plan
        self.size = workers
        # None stands for a worker not started yet (or killed): whoever takes it starts one.
        self._idle: SimpleQueue[_Worker | None] = SimpleQueue()
        for _ in range(workers):
            self._idle.put(None)
        self._live: set[_Worker] = set()
        self._lock = threading.Lock()
        self._threads: ThreadPoolExecutor | None = None
        self._closed = False
        exact = [name for name in plan.algorithms if Ability.EXACT in registry.get(name).abilities]
        self._exact_plan = replace(plan, algorithms=tuple(exact))
        # Workers must not outlive a pool that is dropped without close().
        self._finalizer = weakref.finalize(self, _stop_all, self._live)

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers running now (benchmarks add up their CPU time)."""
        with self._lock:
            return [worker.process.pid for worker in self._live]

    def limit_s(self, data: bytes) -> float:
        """How long hashing ``data`` may take before its worker is killed."""
        soft = self.plan.video.time_limit_s if is_video(data) else self.plan.limits.time_limit_s
        return soft * HARD_LIMIT_FACTOR

    def hash(self, data: bytes) -> HashOutcome:
        """Hash one body in a worker; an overrun or a crashed worker is an error in the outcome.

        Raises:
            RuntimeError: If the pool is closed.
        """
        if self._closed:
            raise RuntimeError("hashing pool is closed")
        worker = self._idle.get()
        keep = False
        try:
            if worker is None:
                worker = _Worker(self.plan)
                with self._lock:
                    self._live.add(worker)
            limit = self.limit_s(data)
            try:
                outcome = worker.run(data, limit)
                keep = True
                return outcome
            except _Overrun:
                reason = f"{DecodeFailure.TIMEOUT}: over the hard {limit:g} s limit decoding and hashing; stopped"
            except EOFError:
                worker.stop()
                reason = f"{DecodeFailure.CRASHED}: the decoding process died (exit code {worker.process.returncode})"
            return self._fallback(data, reason)
        finally:
            if worker is not None and not keep:
                worker.stop()
                with self._lock:
                    self._live.discard(worker)
            self._idle.put(worker if keep else None)

    def _fallback(self, data: bytes, reason: str) -> HashOutcome:
        """The exact hashes (they read bytes only, so they are safe here) and the reason for the rest."""
        outcome = compute_hashes(data, plan=self._exact_plan)
        return HashOutcome(hashes=outcome.hashes, errors=[*outcome.errors, reason])

    def hash_batch(self, bodies: Sequence[bytes]) -> list[HashOutcome]:
        """Hash many bodies on all workers at once, each distinct body once; outcomes in order."""
        distinct = list(dict.fromkeys(bodies))
        if len(distinct) <= 1 or self.size == 1:
            done = {body: self.hash(body) for body in distinct}
        else:
            with self._lock:
                if self._threads is None:
                    self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="hashing-pool")
                threads = self._threads
            done = dict(zip(distinct, threads.map(self.hash, distinct), strict=True))
        return [done[body] for body in bodies]

    def close(self) -> None:
        """Stop every worker (a call in progress gets a ``crashed`` error)."""
        self._closed = True
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._finalizer()

    def __enter__(self) -> HashingPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


if __name__ == "__main__":
    _serve(_plan_from_json(sys.argv[1]))
