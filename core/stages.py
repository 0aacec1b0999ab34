"""Stage declarations (core, under every stage): what a bus consumer reads, its group, its jobs, its batching.

Each stage module declares a :class:`StageSpec` next to its class; ``orbweaver/stages.py`` lists
them, one line per stage, and the runtime, the CLI, the demo, the health monitor and the k8s/KEDA
tests read that list instead of keeping tables of their own (faust's ``@app.agent`` and
``@app.timer`` are the model).

One name per stage: a stage's :class:`StageName` is also its Kafka consumer group, its
``orbweaver worker <name>`` argument and its settings section.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from pydantic import BaseModel

from core.blobs import BlobStore
from core.bus import Bus
from core.messages import Message, Topic
from core.store import Store

SectionT = TypeVar("SectionT", bound=BaseModel)


class StageName(StrEnum):
    """Every bus consumer of the pipeline, in pipeline order; the value is also its consumer group.

    The matcher's stage was called "matching" while its group was "matcher"; the group name was
    kept (renaming a Kafka group would restart it from nothing) and the stage took it.
    """

    RECHECK = "recheck"
    HASHING = "hashing"
    MATCHER = "matcher"
    REVIEW = "review"
    NOTIFIER = "notifier"


class Host(StrEnum):
    """Which process runs a stage."""

    WORKER = "worker"
    """Its own ``orbweaver worker <name>`` process (a thread of the embedded demo)."""
    CRAWLER = "crawler"
    """A thread of the crawler worker (``orbweaver worker crawler``), beside the crawls."""


@dataclass(frozen=True)
class PeriodicJob:
    """Work a running stage does every ``every_s`` seconds besides consuming."""

    name: str
    every_s: float
    run: Callable[[], object]


class Stage(ABC):
    """What every stage object offers the runner.

    A stage handles one message in :meth:`handle`; one whose spec says ``batched`` is also handed
    the whole polled batch in :meth:`handle_batch`, and the bus falls back to :meth:`handle`, one
    message at a time, when the batch as a whole fails (to find the message to blame).
    """

    @abstractmethod
    def handle(self, message: Message) -> None:
        """Handle one message (raise ``TransientError`` to retry, ``PermanentError`` to dead-letter)."""

    def handle_batch(self, messages: Sequence[Message]) -> None:
        """Handle a polled batch; this default handles one message after another."""
        for message in messages:
            self.handle(message)

    def periodic(self) -> Sequence[PeriodicJob]:
        """Jobs the runner calls on a timer while the stage consumes (default: none)."""
        return ()

    def start(self, stop: threading.Event) -> Sequence[threading.Thread]:
        """Start the stage's own background consumers, ending when ``stop`` is set (default: none)."""
        return ()

    def close(self) -> None:  # noqa: B027 - releasing resources is optional; most stages hold none
        """Release what the stage started itself (called once, after consuming stops)."""


class StageRuntime(Protocol):
    """The shared infrastructure a stage is built from (``orbweaver.runtime.Runtime``)."""

    @property
    def bus(self) -> Bus:
        """The bus."""

    @property
    def store(self) -> Store:
        """The store."""

    @property
    def blobs(self) -> BlobStore:
        """The blob store."""

    def section(self, kind: type[SectionT]) -> SectionT:
        """The settings section of type ``kind`` (e.g. ``HashingSettings``)."""


@dataclass(frozen=True)
class StageSpec:
    """How a stage declares itself.

    Attributes:
        name: The stage's one name: consumer group, worker argument.
        topics: What it consumes; the first is its main input (its lag scales it).
        build: Constructs the stage over the runtime's infrastructure and its own settings.
        batched: The bus hands the stage each polled batch at once (:meth:`Stage.handle_batch`).
        defer_flush: Its handler publishes as its last act, so its flushes may wait for one flush
            per batch (see ``Bus.consume``); a stage that records "published" after a flush must not.
        host: Which process runs it.
    """

    name: StageName
    topics: tuple[Topic, ...]
    build: Callable[[StageRuntime], Stage]
    batched: bool = False
    defer_flush: bool = False
    host: Host = Host.WORKER

    def __post_init__(self) -> None:
        if not self.topics:
            raise ValueError(f"stage {self.name} consumes no topic")

    @property
    def group(self) -> str:
        """Its consumer group: its name."""
        return str(self.name)

    @property
    def main_topic(self) -> Topic:
        """The input whose backlog measures the stage's work."""
        return self.topics[0]
