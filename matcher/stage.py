"""Matching stage handler: HashedMedia in, MatchCandidate to review out.

Media decided ``none`` is dropped here: its staged body is deleted, so media that matches nothing
leaves no bytes once hashed; the one exception is media fetched for a report
(``FetchOrigin.REPORT``), whose body waits under ``triage/`` and goes to review as a candidate
without hits, for analysts' triage. Media decided ``match`` or ``review`` is kept in the blob store as
evidence for review, once per SHA-256, every hit is recorded with the variant that reached it, and the fused decision
travels to review on the candidate. List changes reach the stage from the bus (see
:mod:`matcher.changes`), not by polling the store.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import structlog
from prometheus_client import Counter

from core.blobs import BlobStore, evidence_key, triage_key
from core.bus import Bus
from core.errors import PermanentError
from core.messages import FetchOrigin, HashedMedia, MatchCandidate, MatchDecision, MatchHit, Message, Topic, derive_id
from core.stages import Stage, StageName, StageRuntime, StageSpec
from core.store import Store, insert_ignore
from core.store.tables.matcher import Match
from hashing.media import set_evidence_key
from matcher.changes import ListFollower, default_replica_id
from matcher.decision import Verdict
from matcher.engine import Matcher
from matcher.settings import MatcherSettings
from matcher.verify import CandidateVerifier, VerifyOutcome

log = structlog.get_logger(__name__)

MATCHED = Counter("orbweaver_matcher_media_total", "Hashed media handled by the matcher", ["result"])
VERIFIED = Counter("orbweaver_matcher_verifications_total",
                   "Media items with hits in the verification band, by what verification concluded", ["outcome"])


class MatchingStage(Stage):
    """Consumes ``media.hashed`` in group ``matcher``, a batch at a time; follows list changes as its own replica.

    Args:
        bus: The bus.
        store: The shared store (hash sets, matches, media).
        blobs: Where matched media is kept as evidence.
        matcher: The matcher; loaded here.
        replica_id: Names this replica's list-change consumer group (default: the matcher
            settings' ``replica_id``, else unique to this process).
        resync_s: Period of the safety re-sync (default: the matcher settings' ``resync_s``).

    """

    def __init__(
        self,
        bus: Bus,
        store: Store,
        blobs: BlobStore,
        matcher: Matcher,
        *,
        replica_id: str | None = None,
        resync_s: float | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.blobs = blobs
        self.matcher = matcher
        self.follower = ListFollower(
            bus,
            matcher,
            replica_id or matcher.settings.replica_id or default_replica_id(),
            resync_s=resync_s if resync_s is not None else matcher.settings.resync_s,
        )
        verify = matcher.settings.verify
        self.verifier = CandidateVerifier(store, blobs, verify) if verify.enabled else None
        self.matcher.load()

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """Start applying list changes from the bus (and the slow re-sync) until ``stop`` is set.

        Every replica applies every list change while it consumes media.
        """
        return self.follower.start(stop)

    def _keep_evidence(self, message: HashedMedia, key: str) -> str:
        if message.blob_key is not None and not self.blobs.exists(key):
            try:
                self.blobs.move(message.blob_key, key)
            except KeyError:
                raise PermanentError(f"staged body {message.blob_key} is missing") from None
        if message.blob_key is not None:
            self.blobs.delete(message.blob_key)
        return key

    def _verify(self, message: HashedMedia, uncertain: list[MatchHit], verdict: Verdict,
                hits: list[MatchHit]) -> tuple[Verdict, list[MatchHit]]:
        """Settle hits in the verification band: verified ones count, rejected ones are dropped.

        A picture that cannot be read (corrupt reference or body) sends the item to review with
        the reason, so a damaged reference never silently loses a candidate.
        """
        assert self.verifier is not None  # the caller checked
        check = self.verifier.check(message.blob_key, uncertain)
        VERIFIED.labels(str(check.outcome)).inc()
        if check.outcome is VerifyOutcome.FAILED:
            log.error("matcher.verify_failed", sha256=message.sha256, reason=check.reason)
        else:
            log.info("matcher.verified", sha256=message.sha256, outcome=str(check.outcome), reason=check.reason)
        if check.hit is None or check.outcome not in (VerifyOutcome.VERIFIED, VerifyOutcome.FAILED):
            return verdict, hits  # rejected, inconclusive, unavailable: as without verification
        decision = self.verifier.settings.verified_decision if check.outcome is VerifyOutcome.VERIFIED \
            else MatchDecision.REVIEW
        return Verdict(decision, check.hit, f"{check.outcome}: {check.reason}"), [check.hit]

    def handle(self, message: Message) -> None:
        """Match one hashed media item against the known lists and pass it on if it matched."""
        self.handle_batch([message])

    def handle_batch(self, messages: Sequence[Message]) -> None:
        """Match a polled batch; record its hits in one store transaction; pass the matches on.

        Raises:
            PermanentError: If a message is not for this stage or its staged body is missing; the
                bus then handles the batch one message at a time to dead-letter only that one.

        """
        wrong = [m.schema_name for m in messages if not isinstance(m, HashedMedia)]
        if wrong:  # before any work: the bus redoes the batch one message at a time
            raise PermanentError(f"matching stage cannot handle {wrong[0]}")
        outgoing: list[MatchCandidate] = []
        for message in messages:
            assert isinstance(message, HashedMedia)  # checked above
            outcome = self.matcher.evaluate(message.hashes)
            verdict = outcome.verdict
            hits = outcome.hits
            if verdict.decision is MatchDecision.NONE and outcome.uncertain and self.verifier is not None:
                verdict, hits = self._verify(message, outcome.uncertain, verdict, hits)
            if verdict.decision is MatchDecision.NONE and message.ref.origin is FetchOrigin.REPORT:
                # A reported page's unmatched media is the one kind kept without a match: analysts triage it.
                outgoing.append(MatchCandidate(
                    message_id=derive_id(message.message_id, "match"), ref=message.ref, sha256=message.sha256,
                    hashes=message.hashes, hits=[], decision=verdict.decision,
                    evidence_key=self._keep_evidence(message, triage_key(message.sha256))
                    if message.blob_key is not None else None,
                ))
                continue
            if verdict.decision is MatchDecision.NONE:
                if message.blob_key is not None:
                    self.blobs.delete(message.blob_key)
                MATCHED.labels("none").inc()
                continue
            best = verdict.best or hits[0]
            log.info(
                "matcher.match",
                media_url=message.ref.media_url,
                sha256=message.sha256,
                decision=str(verdict.decision),
                reason=verdict.reason,
                algorithm=best.algorithm,
                distance=best.distance,
                variant=best.variant,
                list_variant=best.list_variant,
                hash_set=best.hash_set,
            )
            outgoing.append(
                MatchCandidate(
                    message_id=derive_id(message.message_id, "match"),
                    ref=message.ref,
                    sha256=message.sha256,
                    hashes=message.hashes,
                    hits=hits,
                    evidence_key=self._keep_evidence(message, evidence_key(message.sha256)),
                    decision=verdict.decision,
                )
            )
        if not outgoing:
            return
        with self.store.session() as s:
            for candidate in outgoing:
                for hit in candidate.hits:
                    insert_ignore(
                        s,
                        Match,
                        {
                            "sha256": candidate.sha256,
                            "hash_entry_id": hit.entry_id,
                            "algorithm": hit.algorithm,
                            "distance": hit.distance,
                            "variant": hit.variant,
                            "list_variant": hit.list_variant,
                        },
                        ["sha256", "hash_entry_id", "algorithm"],
                    )
                if candidate.hits and candidate.evidence_key is not None:  # triage media is not evidence (yet)
                    set_evidence_key(s, candidate.sha256, candidate.evidence_key)
        for candidate in outgoing:
            MATCHED.labels(candidate.decision if candidate.hits else "triage").inc()
            self.bus.publish(candidate)
        self.bus.flush()


def build(rt: StageRuntime) -> MatchingStage:
    """The matching stage over the runtime's infrastructure and its ``[matcher]`` settings."""
    return MatchingStage(rt.bus, rt.store, rt.blobs, Matcher(rt.store, rt.section(MatcherSettings)))


SPEC = StageSpec(StageName.MATCHER, (Topic.MEDIA_HASHED,), build, batched=True, defer_flush=True)
"""The matcher publishes as its last act, so its flushes wait for one per batch."""
