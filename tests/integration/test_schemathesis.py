"""The hash-check API against its own /openapi.json: schemathesis-generated requests, a valid token, real HTTP.

The app runs under uvicorn in a thread on a free loopback port over a temporary store that holds a
small known list (generated benign images' hashes, and the schema's own example hash so generated
examples also reach the match path). Every answer must be a documented status with a body that
conforms to the schema, and none may be a 5xx. Hypothesis' example count is bounded so the whole
module runs in well under a minute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.transport.serialization import Binary

from hashing.hasher import compute_hashes
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from tests.fixtures.webapp import ServedApp
from tests.unit.web.conftest import PASSWORD, make_settings
from tests.unit.web.seed import flip_bits, image
from web.api import MEDIA_FIELD, HashQuery
from web.auth import Accounts, Role

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 100


class Served(ServedApp):
    """The web app under uvicorn in a thread, with one hash-check token and a small known list."""

    def __init__(self, root: Path) -> None:
        # A large bucket: the rate limit has its own unit test; here it would only turn answers into 429s.
        super().__init__(root, make_settings(root, api_burst=100_000, api_rate_per_minute=100_000.0,
                                             api_max_batch=50, api_max_media_items=4))
        accounts = self.app.state.ctx.accounts
        assert isinstance(accounts, Accounts)
        accounts.create_user("acme", PASSWORD, [Role.HASH_CHECK.value], actor="test")
        self.token = accounts.create_token("acme", "schemathesis", actor="test")
        example = HashQuery.model_fields["hash"].examples
        assert example
        entries = [ListEntry(value=str(example[0]), algorithm="pdq", label="schema example",
                             classification="baseline_csam")]
        # Valid hashes sent besides the generated batches: listed ones, near ones, and unlisted ones.
        self.hashes: list[dict[str, str]] = []
        for seed in range(3):
            hashes = compute_hashes(image(seed)).hashes
            for h in hashes:
                entries.append(ListEntry(value=h.value, algorithm=h.algorithm, label=f"image {seed}"))
                self.hashes.append({"algorithm": h.algorithm, "hash": h.value})
            pdq = next(h.value for h in hashes if h.algorithm == "pdq")
            self.hashes.append({"algorithm": "pdq", "hash": flip_bits(pdq, 9)})
        self.hashes += [{"algorithm": h.algorithm, "hash": h.value} for h in compute_hashes(image(9)).hashes]
        import_entries(self.store, "known", entries, source="test")
        # Files sent besides the generated uploads: a listed image, a re-encoded copy, an unlisted one, a corrupt one.
        self.media = [image(0), image(1, quality=55), image(9), image(2)[:700]]
        self.statuses: Counter[str] = Counter()

    def __enter__(self) -> Served:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def known_cases(self, operation: APIOperation) -> list[Case]:
        """Requests with listed, near, unlisted and broken hashes or files, to validate the answers of every path."""
        if operation.path == "/v1/hashes":
            return [operation.Case(body={"items": self.hashes[i:i + 7]}, media_type="application/json")
                    for i in range(0, len(self.hashes), 7)]
        return [operation.Case(body=Binary(body), media_type="application/octet-stream") for body in self.media] + [
            operation.Case(body={MEDIA_FIELD: [Binary(b) for b in self.media]}, media_type="multipart/form-data")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("schemathesis")) as app:
        yield app


def run_operation(operation: APIOperation, mode: GenerationMode, served: Served) -> None:
    """Send ``EXAMPLES_PER_OPERATION`` generated requests of one kind to one operation and validate each answer."""

    def send(case: Case) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {served.token}"})
        assert response.status_code < 500
        if response.status_code == 200:
            served.statuses.update(f"{operation.path} {item['status']}" for item in response.json()["items"])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    def exercise(case: Case) -> None:
        send(case)

    exercise()
    if mode is GenerationMode.POSITIVE:
        for case in served.known_cases(operation):
            send(case)


# schemathesis' lazy pytest loader (from_fixture) does not run under pytest 9, and a module-level schema
# would need the app at import time; so the test loads the served document and drives Hypothesis itself.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_every_generated_request_as_documented(served: Served, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{served.port}/openapi.json")
    documented = [result.ok() for result in schema.get_all_operations()]
    assert sorted(f"{op.method.upper()} {op.path}" for op in documented) == [
        "GET /v1/reports/{code}", "POST /v1/hashes", "POST /v1/media", "POST /v1/reports"]
    # The hash check only: the report routes have their own tests (tests/unit/web/test_reports.py), and generated
    # reports would queue hundreds of crawls while adding minutes to the suite.
    operations = [op for op in documented if op.path in ("/v1/hashes", "/v1/media")]
    served.statuses.clear()
    for operation in operations:
        run_operation(operation, mode, served)
    if mode is GenerationMode.POSITIVE:
        # Both routes answered every outcome (match, no match, per-item error) within the schema.
        for path in ("/v1/hashes", "/v1/media"):
            for status in ("match", "no_match", "error"):
                assert served.statuses[f"{path} {status}"] > 0, (path, status, served.statuses)
