"""Blob stores: the local folder store and the S3 store against moto's standalone server."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from core.blobs import LocalBlobStore, check_key, evidence_key, open_blobs, staging_key
from core.blobs_s3 import S3BlobStore
from core.errors import ConfigError, PermanentError, TransientError
from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.servers import free_port

BAD_KEYS = ["../x", "a/../b", "/etc/passwd", "a//b", "", ".hidden", "a\\b", "a b", "x" * 600]


@pytest.fixture
def s3_env(moto_s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    for name, value in moto_s3.env().items():
        monkeypatch.setenv(name, value)
    return moto_s3


@pytest.fixture
def s3_store(s3_env: S3Endpoint) -> S3BlobStore:
    # A fresh prefix per test keeps tests apart in the session's bucket.
    return S3BlobStore.from_url(f"s3://{s3_env.bucket}/t-{uuid.uuid4().hex[:12]}", endpoint_url=s3_env.endpoint_url)


# -- keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", BAD_KEYS)
def test_check_key_rejects_escaping_or_odd_keys(key: str) -> None:
    with pytest.raises(PermanentError, match="invalid blob key"):
        check_key(key)


@pytest.mark.parametrize("key", ["a", "a/b", "evidence/ab/abc.jpg", "staging/0123-4567"])
def test_check_key_accepts_plain_relative_keys(key: str) -> None:
    assert check_key(key) == key


def test_key_helpers_produce_valid_keys() -> None:
    sha = "ab" + "0" * 62
    assert check_key(evidence_key(sha)) == f"evidence/ab/{sha}"
    assert check_key(staging_key("m-1")) == "staging/m-1"


# -- local store -----------------------------------------------------------------------


def test_local_round_trip_replace_delete(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    assert not store.exists("a/b")
    store.put("a/b", b"one")
    assert store.exists("a/b")
    assert store.get("a/b") == b"one"
    store.put("a/b", b"two")
    assert store.get("a/b") == b"two"
    store.delete("a/b")
    store.delete("a/b")  # deleting a missing key is not an error
    assert not store.exists("a/b")


def test_local_missing_key_is_keyerror(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(KeyError):
        store.get("nope")
    with pytest.raises(KeyError):
        store.move("nope", "elsewhere")


@pytest.mark.parametrize("key", ["../x", "/abs/path", "a//b"])
def test_local_rejects_bad_keys_without_touching_disk(tmp_path: Path, key: str) -> None:
    store = LocalBlobStore(tmp_path / "root")
    for op in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.exists(key)):
        with pytest.raises(PermanentError):
            op()
    assert not (tmp_path / "x").exists()
    assert [p for p in (tmp_path / "root").rglob("*")] == []


def test_local_put_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    old, new = b"o" * 1_000_000, b"n" * 1_000_000
    store.put("k", old)
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(store.get("k"))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(20):
            store.put("k", new if i % 2 == 0 else old)
    finally:
        stop.set()
        thread.join()
    # A reader only ever sees a whole old or a whole new body, never a torn mix.
    assert seen <= {old, new}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]


def test_local_put_failure_keeps_old_bytes_and_cleans_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("k", b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.put("k", b"new")
    monkeypatch.undo()
    assert store.get("k") == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]


def test_local_move(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("staging/m1", b"body")
    store.move("staging/m1", "evidence/ab/abc")
    assert not store.exists("staging/m1")
    assert store.get("evidence/ab/abc") == b"body"


def test_open_blobs_by_url(tmp_path: Path) -> None:
    assert isinstance(open_blobs(str(tmp_path / "a")), LocalBlobStore)
    assert isinstance(open_blobs(f"file://{tmp_path / 'b'}"), LocalBlobStore)
    with pytest.raises(ConfigError, match="unsupported blob store URL"):
        open_blobs("ftp://host/x")


# -- S3 store against moto --------------------------------------------------------------


def test_s3_round_trip_under_prefix(s3_store: S3BlobStore, s3_env: S3Endpoint) -> None:
    assert not s3_store.exists("a/b")
    s3_store.put("a/b", b"one")
    assert s3_store.exists("a/b")
    assert s3_store.get("a/b") == b"one"
    s3_store.put("a/b", b"two")
    assert s3_store.get("a/b") == b"two"
    # The prefix is where the object really lives in the bucket.
    raw = s3_env.client().get_object(Bucket=s3_env.bucket, Key=f"{s3_store.prefix}/a/b")
    assert raw["Body"].read() == b"two"
    s3_store.delete("a/b")
    s3_store.delete("a/b")
    assert not s3_store.exists("a/b")


def test_s3_empty_body_and_no_prefix(s3_env: S3Endpoint) -> None:
    store = S3BlobStore.from_url(f"s3://{s3_env.bucket}", endpoint_url=s3_env.endpoint_url)
    key = f"empty-{uuid.uuid4().hex}"
    store.put(key, b"")
    assert store.get(key) == b""
    assert s3_env.client().head_object(Bucket=s3_env.bucket, Key=key)["ContentLength"] == 0


def test_s3_missing_key_is_keyerror(s3_store: S3BlobStore) -> None:
    with pytest.raises(KeyError):
        s3_store.get("nope")
    with pytest.raises(KeyError):
        s3_store.move("nope", "elsewhere")
    assert not s3_store.exists("elsewhere")


def test_s3_rejects_bad_keys_before_any_request() -> None:
    # Nothing listens on this endpoint: a request would surface as TransientError instead.
    s3_store = S3BlobStore("bucket", endpoint_url=f"http://127.0.0.1:{free_port()}")
    ops: list[Callable[[str], object]] = [
        lambda k: s3_store.put(k, b"x"),
        s3_store.get,
        s3_store.exists,
        s3_store.delete,
        lambda k: s3_store.move(k, "ok"),
        lambda k: s3_store.move("ok", k),
    ]
    for key in ("../x", "/abs/path", "a//b"):
        for op in ops:
            with pytest.raises(PermanentError, match="invalid blob key"):
                op(key)


def test_s3_move_is_server_side_copy_then_delete(s3_store: S3BlobStore) -> None:
    s3_store.put("staging/m1", b"body")
    s3_store.move("staging/m1", "evidence/ab/abc")
    assert not s3_store.exists("staging/m1")
    assert s3_store.get("evidence/ab/abc") == b"body"


def test_s3_missing_bucket_is_config_error(s3_env: S3Endpoint) -> None:
    store = S3BlobStore("ow-no-such-bucket", endpoint_url=s3_env.endpoint_url)
    with pytest.raises(ConfigError, match="does not exist"):
        store.put("k", b"x")
    with pytest.raises(ConfigError, match="does not exist"):
        store.get("k")
    # A HEAD says only "404"; exists() must not turn a wrong bucket into "no such key".
    with pytest.raises(ConfigError, match="does not exist"):
        store.exists("k")


def test_s3_create_bucket_flag(s3_env: S3Endpoint) -> None:
    bucket = s3_env.bucket + "-made"
    store = S3BlobStore.from_url(f"s3://{bucket}/p", endpoint_url=s3_env.endpoint_url, create_bucket=True)
    store.put("k", b"x")
    assert store.get("k") == b"x"
    # Opening again with the flag finds the bucket and keeps its contents.
    again = S3BlobStore(bucket, "p", endpoint_url=s3_env.endpoint_url, create_bucket=True)
    assert again.get("k") == b"x"


def test_s3_create_bucket_outside_us_east_1(s3_env: S3Endpoint) -> None:
    # Moto, like AWS, refuses a bucket in another region unless its location is given.
    elsewhere = S3Endpoint(
        endpoint_url=s3_env.endpoint_url,
        access_key=s3_env.access_key,
        secret_key=s3_env.secret_key,
        bucket=s3_env.bucket + "-eu",
        region="eu-west-1",
    )
    store = S3BlobStore(elsewhere.bucket, create_bucket=True, client=elsewhere.client())
    store.put("k", b"x")
    location = elsewhere.client().get_bucket_location(Bucket=elsewhere.bucket)
    assert location["LocationConstraint"] == "eu-west-1"


def test_s3_unreachable_endpoint_is_transient(s3_env: S3Endpoint) -> None:
    dead = S3Endpoint(
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key=s3_env.access_key,
        secret_key=s3_env.secret_key,
        bucket=s3_env.bucket,
    )
    store = S3BlobStore(dead.bucket, client=dead.client(max_attempts=1))
    for op in (lambda: store.put("k", b"x"), lambda: store.get("k"), lambda: store.exists("k")):
        with pytest.raises(TransientError, match=r"127\.0\.0\.1"):
            op()


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "s3:///prefix",
        "s3://bucket/../x",
        "s3://bucket/a//b",
        "s3://bucket/p?x=1",
        "http://b/p",
    ],
)
def test_s3_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        S3BlobStore.from_url(url)


def test_open_blobs_picks_s3(s3_env: S3Endpoint) -> None:
    store = open_blobs(f"s3://{s3_env.bucket}/x", s3_endpoint_url=s3_env.endpoint_url)
    assert isinstance(store, S3BlobStore)
    store.put("k", b"v")
    assert store.get("k") == b"v"


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("SlowDown", 503, TransientError),
        ("InternalError", 500, TransientError),
        ("ServiceUnavailable", 503, TransientError),
        ("Throttling", 400, TransientError),
        ("SomethingNew", 502, TransientError),
        ("AccessDenied", 403, ConfigError),
        ("InvalidAccessKeyId", 403, ConfigError),
        ("SignatureDoesNotMatch", 403, ConfigError),
        ("NoSuchBucket", 404, ConfigError),
        ("EntityTooLarge", 400, PermanentError),
    ],
)
def test_s3_server_errors_map_to_the_error_root(
    s3_env: S3Endpoint, code: str, status: int, expected: type[Exception]
) -> None:
    from botocore.stub import Stubber

    # Stubber is botocore's own canned-answer client: the real client, no network.
    client = s3_env.client(max_attempts=1)
    store = S3BlobStore(s3_env.bucket, "p", client=client)
    with Stubber(client) as stub:
        stub.add_client_error("put_object", service_error_code=code, http_status_code=status)
        with pytest.raises(expected) as caught:
            store.put("k", b"x")
        stub.assert_no_pending_responses()
    assert code in str(caught.value) or "does not exist" in str(caught.value)
    # ConfigError and TransientError are not PermanentError: a consumer must not dead-letter them.
    assert isinstance(caught.value, PermanentError) == (expected is PermanentError)
