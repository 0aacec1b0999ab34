"""Every stage over the scale-out backends at once: Kafka bus, PostgreSQL store, S3 (SeaweedFS) blobs.

Media are benign generated images; the known list is the hashes of some of them.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.blobs_s3 import S3BlobStore
from core.messages import Topic, new_id, utcnow
from core.settings import load
from core.store import Store, insert_ignore
from core.store.tables.crawler import Sighting
from core.store.tables.hashing import Media
from core.store.tables.notifier import Notice, NoticeItem
from core.store.tables.review import ReviewItem
from notifier.stage import build as build_notifier
from orbweaver.runtime import Runtime, run_stage
from orbweaver.settings import Settings
from orbweaver.stages import WORKER_STAGES
from tests.fixtures.media import publish_media, seed_known_list
from tests.fixtures.s3 import S3Endpoint

pytestmark = pytest.mark.integration

TOTAL = 60
KNOWN = 6


def test_insert_ignore_is_idempotent_on_postgresql(fresh_postgres_url: str) -> None:
    store = Store(fresh_postgres_url)
    try:
        store.migrate()
        row = {"message_id": new_id(), "campaign_id": "c", "page_url": "p", "media_url": "m", "final_url": "m",
               "fetched_at": utcnow()}
        with store.session() as s:
            assert insert_ignore(s, Sighting, row, ["message_id"]) is True
        with store.session() as s:
            assert insert_ignore(s, Sighting, row, ["message_id"]) is False
            assert s.scalar(select(func.count()).select_from(Sighting)) == 1
    finally:
        store.dispose()


def test_every_stage_over_kafka_postgresql_and_s3(
    tmp_path: Path, kafka_url: str, fresh_postgres_url: str, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    prefix = f"run-{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in kafka_url else "?"
    settings = load(Settings, environ={}, overrides={
        "core": {"data_dir": str(tmp_path / "state"), "bus": f"{kafka_url}{sep}topic_prefix={prefix}.",
                 "store": fresh_postgres_url, "blobs": f"s3://{s3_server.bucket}/{prefix}",
                 "s3_endpoint_url": s3_server.endpoint_url},
        "notifier": {"outbox": {"dir": str(tmp_path / "outbox")}},
    })
    rt = Runtime.open(settings)
    stop = threading.Event()
    threads = [threading.Thread(target=run_stage, args=(spec.name, rt, stop), daemon=True) for spec in WORKER_STAGES]
    try:
        seed_known_list(rt.store, KNOWN)
        publish_media(rt.bus, TOTAL, blobs=rt.blobs, stage_every=4)
        for thread in threads:
            thread.start()
        pairs = [(spec.main_topic, spec.group) for spec in WORKER_STAGES]
        assert rt.bus.wait_drained(pairs, timeout_s=240), {str(t): rt.bus.lag(t, g) for t, g in pairs}
        build_notifier(rt).flush(force=True)
        with rt.store.session() as s:
            assert s.scalar(select(func.count()).select_from(Sighting)) == TOTAL
            assert s.scalar(select(func.count()).select_from(Media)) == TOTAL
            matched = s.scalars(select(ReviewItem.sha256)).all()
            assert len(matched) == KNOWN
            assert s.scalar(select(func.count()).select_from(NoticeItem)) == KNOWN
            assert s.scalars(select(Notice.status)).all() == ["sent"]
        client = s3_server.client()
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=s3_server.bucket, Prefix=f"{prefix}/") for o in page.get("Contents", [])]
        assert sorted(k.rsplit("/", 1)[-1] for k in keys if "/evidence/" in k) == sorted(matched)
        # Staged bodies are gone once hashed and matched: only evidence is kept.
        assert not [k for k in keys if "/staging/" in k]
        assert isinstance(rt.blobs, S3BlobStore)
        assert rt.bus.lag(Topic.MEDIA_FETCHED, "hashing") == 0
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        rt.close()
