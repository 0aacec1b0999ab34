"""The S3 blob store against a real SeaweedFS server (started by the ``s3_server`` fixture)."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from core.blobs import open_blobs
from core.blobs_s3 import S3BlobStore
from core.errors import ConfigError, PermanentError
from tests.fixtures.s3 import S3Endpoint

pytestmark = pytest.mark.integration


@pytest.fixture
def store(s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> S3BlobStore:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    # A fresh prefix per test keeps tests independent on the shared session server.
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    blobs = open_blobs(f"s3://{s3_server.bucket}/{prefix}", s3_endpoint_url=s3_server.endpoint_url)
    assert isinstance(blobs, S3BlobStore)
    return blobs


def test_round_trip_and_replace(store: S3BlobStore, s3_server: S3Endpoint) -> None:
    assert not store.exists("evidence/ab/abc")
    store.put("evidence/ab/abc", b"first")
    assert store.exists("evidence/ab/abc")
    assert store.get("evidence/ab/abc") == b"first"
    store.put("evidence/ab/abc", b"second")
    assert store.get("evidence/ab/abc") == b"second"
    raw = s3_server.client().get_object(Bucket=s3_server.bucket, Key=f"{store.prefix}/evidence/ab/abc")
    assert raw["Body"].read() == b"second"


def test_large_object(store: S3BlobStore) -> None:
    # 8 MiB spans several SeaweedFS chunks (4 MiB each by default); bytes are a benign pattern.
    data = bytes(range(256)) * (8 * 1024 * 1024 // 256) + b"tail"
    store.put("staging/big", data)
    back = store.get("staging/big")
    assert len(back) == len(data)
    assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()


def test_missing_key(store: S3BlobStore) -> None:
    with pytest.raises(KeyError):
        store.get("nope")
    assert not store.exists("nope")
    with pytest.raises(KeyError):
        store.move("nope", "also-nope")
    assert not store.exists("also-nope")


def test_delete_is_idempotent(store: S3BlobStore) -> None:
    store.put("k", b"v")
    store.delete("k")
    assert not store.exists("k")
    store.delete("k")
    store.delete("never-was")


def test_move(store: S3BlobStore) -> None:
    data = b"\x00\x01" * 100_000
    store.put("staging/m1", data)
    store.move("staging/m1", "evidence/ab/abc")
    assert not store.exists("staging/m1")
    assert store.get("evidence/ab/abc") == data
    # Moving onto an existing key replaces it.
    store.put("staging/m2", b"newer")
    store.move("staging/m2", "evidence/ab/abc")
    assert store.get("evidence/ab/abc") == b"newer"


def test_bad_keys_never_reach_the_server(store: S3BlobStore) -> None:
    for key in ("../x", "/abs", "a//b"):
        with pytest.raises(PermanentError):
            store.put(key, b"x")


def test_wrong_bucket_and_wrong_credentials_are_config_errors(s3_server: S3Endpoint) -> None:
    missing = S3BlobStore("ow-no-such-bucket", client=s3_server.client(max_attempts=1))
    with pytest.raises(ConfigError, match="does not exist"):
        missing.get("k")
    with pytest.raises(ConfigError, match="does not exist"):
        missing.exists("k")
    wrong = S3Endpoint(
        endpoint_url=s3_server.endpoint_url,
        access_key="not-a-key",
        secret_key="not-a-secret",
        bucket=s3_server.bucket,
    )
    refused = S3BlobStore(wrong.bucket, client=wrong.client(max_attempts=1))
    with pytest.raises(ConfigError, match="InvalidAccessKeyId"):
        refused.put("k", b"x")


def test_create_bucket_flag(s3_server: S3Endpoint) -> None:
    bucket = f"ow-made-{uuid.uuid4().hex[:8]}"
    made = S3BlobStore(bucket, "p", create_bucket=True, client=s3_server.client())
    made.put("k", b"x")
    again = S3BlobStore(bucket, "p", create_bucket=True, client=s3_server.client())
    assert again.get("k") == b"x"


def test_create_bucket_flag_with_a_region(s3_server: S3Endpoint) -> None:
    # Clients configured for another region send a location constraint; SeaweedFS takes it.
    elsewhere = S3Endpoint(
        endpoint_url=s3_server.endpoint_url,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        bucket=f"ow-eu-{uuid.uuid4().hex[:8]}",
        region="eu-west-1",
    )
    made = S3BlobStore(elsewhere.bucket, create_bucket=True, client=elsewhere.client())
    made.put("k", b"x")
    assert made.get("k") == b"x"
