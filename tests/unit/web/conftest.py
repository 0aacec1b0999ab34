"""Fixtures of the web app tests: an app over a temporary store, embedded bus and blob folder, with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.store import Store
from core.store.tables.notifier import Provider
from orbweaver.settings import Settings
from review.stage import ReviewStage
from tests.fixtures.clock import FakeClock
from tests.unit.web.seed import csrf_of
from web.app import create_app
from web.auth import Accounts, Role

PASSWORD = "correct horse battery"
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


WEB_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""Where the web tests' fake clock starts (their seeded rows are dated around it)."""


@dataclass
class Env:
    app: FastAPI
    store: Store
    bus: EmbeddedBus
    blobs: LocalBlobStore
    clock: FakeClock
    settings: Settings
    stage: ReviewStage

    @property
    def accounts(self) -> Accounts:
        accounts = self.app.state.ctx.accounts
        assert isinstance(accounts, Accounts)
        return accounts

    def user(self, name: str, *roles: Role, provider_id: int | None = None) -> str:
        self.accounts.create_user(name, PASSWORD, [r.value for r in roles], actor="test", provider_id=provider_id)
        return name

    def provider(self, name: str) -> int:
        with self.store.session() as s:
            p = Provider(name=name, abuse_email=f"abuse@{name}.test")
            s.add(p)
            s.flush()
            return p.id

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def signed_in(self, name: str, password: str = PASSWORD) -> TestClient:
        client = self.client()
        sign_in(client, name, password)
        return client


def sign_in(client: TestClient, name: str, password: str = PASSWORD, next_url: str = "/") -> Any:
    form = client.get("/login")
    assert form.status_code == 200
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf_of(form.text),
                                       "next": next_url})


def make_settings(tmp_path: Path, hashing: dict[str, Any] | None = None, **web: Any) -> Settings:
    return Settings.model_validate({"core": {"data_dir": str(tmp_path / "state")},
                                    "web": {**FAST_ARGON2, **web}, "hashing": hashing or {}})


def make_env(tmp_path: Path, hashing: dict[str, Any] | None = None, **web: Any) -> Iterator[Env]:
    """An app over a fresh store, bus and blob folder, with these web (and hashing) settings; closed when resumed."""
    settings = make_settings(tmp_path, hashing, **web)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    bus = EmbeddedBus(tmp_path / "bus.db")
    blobs = LocalBlobStore(tmp_path / "blobs")
    clock = FakeClock(WEB_START)
    app = create_app(settings, store=store, bus=bus, blobs=blobs, clock=clock)
    yield Env(app=app, store=store, bus=bus, blobs=blobs, clock=clock, settings=settings,
              stage=ReviewStage(bus, store, settings.review))
    bus.close()
    store.dispose()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)
