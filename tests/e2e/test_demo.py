"""The demo path through every stage: crawl, hash, match, review, notice, on both buses.

Every image is generated and benign; the known list is the hashes of generated images.
"""

from __future__ import annotations

import email
import json
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select

from core.bus.embedded import EmbeddedBus
from core.messages import Topic
from core.settings import load
from core.store import Store
from core.store.tables.crawler import Sighting
from orbweaver.demo.run import run_demo
from orbweaver.settings import Settings
from tests.fixtures.xarf_reports import notice_reports
from tests.unit.web.conftest import PASSWORD, sign_in

pytestmark = pytest.mark.e2e
ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")


def test_demo_command_on_the_embedded_bus(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [ORBWEAVER, "demo", "--json", "--workdir", str(workdir), "--pages", "40", "--images", "160",
         "--planted", "12"],
        capture_output=True, text=True, timeout=600, check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # A quiet terminal: progress and the summary on one screen, the structured log in a file.
    log_file = workdir / "orbweaver-demo.log"
    assert str(log_file) in result.stderr
    assert len(result.stderr.splitlines()) <= 40, result.stderr
    assert '"event"' not in result.stderr
    logged = [json.loads(line)["event"] for line in log_file.read_text(encoding="utf-8").splitlines()]
    assert logged.count("stage.start") == 4 and "notifier.notice_sent" in logged
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["planted"] == 12
    assert summary["matched_planted"] == summary["planted"]
    assert summary["false_matches"] == 0
    assert summary["notices"] >= 1
    assert summary["pages"] >= 40
    assert summary["media"] >= 160
    # The three bad inputs the site serves are recorded per item, and the run went on.
    assert summary["media_errors"] >= 3
    # The summary's speed: CPU per media item of the stages and of the crawl, beside media/s.
    assert summary["pipeline_cpu_ms_per_media"] > 0 and summary["crawler_cpu_ms_per_media"] > 0
    assert "CPU per media item" in result.stderr
    notices = list((workdir / "outbox").glob("*.eml"))
    assert len(notices) == summary["notices"]
    msg = email.message_from_bytes(notices[0].read_bytes(), policy=policy.default)
    assert msg["To"] == "abuse@demo-hosting.invalid"
    # Every notice's X-ARF reports pass the vendored 4.0.0 schemas and the xarf package; no part is media.
    reports = [r for n in notices
               for r in notice_reports(email.message_from_bytes(n.read_bytes(), policy=policy.default))]
    assert len(reports) >= summary["notices"]
    # Only matched media is kept: one evidence file per matched SHA-256, nothing else.
    evidence = [p for p in (workdir / "state" / "evidence").rglob("*") if p.is_file()]
    assert 0 < len(evidence) <= summary["matches"]
    assert not any("staging" in p.parts for p in evidence)
    # No media bytes linger in the bus once every stage is done with them.
    bus = EmbeddedBus(workdir / "state" / "bus.sqlite3")
    assert bus.topic_size(Topic.MEDIA_FETCHED) == bus.topic_size(Topic.MEDIA_HASHED) == 0
    store = Store(f"sqlite:///{workdir / 'state' / 'orbweaver.sqlite3'}")
    with store.session() as s:
        errors = [e for e in s.scalars(select(Sighting.error)).all() if e]
    codes = {e.split(":", 1)[0] for e in errors}
    assert {"empty", "corrupt", "not-an-image"} <= codes, errors
    store.dispose()
    assert_dashboard_shows_the_demo(workdir / "state", result.stderr)


def assert_dashboard_shows_the_demo(state: Path, said: str) -> None:
    """The web app opened the way the demo says lists the demo's campaign on its dashboard."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    assert f"ORBWEAVER_CORE__DATA_DIR={state} orbweaver serve" in " ".join(said.split())
    settings = load(Settings, environ={"ORBWEAVER_CORE__DATA_DIR": str(state)})
    app = create_app(settings)
    app.state.ctx.accounts.create_user("demo-operator", PASSWORD, ["operator"], actor="test")
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, "demo-operator")
        dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200
    assert "orbweaver demo" in dashboard.text and 'href="/dashboard/campaigns/demo-' in dashboard.text


@pytest.mark.integration
def test_demo_through_kafka(tmp_path: Path, kafka_url: str) -> None:
    settings = load(Settings, environ={}, overrides={
        "core": {"data_dir": str(tmp_path / "state"), "bus": kafka_url},
        "notifier": {"outbox": {"dir": str(tmp_path / "outbox")}},
    })
    summary = run_demo(settings, tmp_path / "demo", pages=30, images=100, known=8, planted=8)
    assert summary.bus == "KafkaBus"
    assert summary.planted == 8
    assert summary.matched_planted == 8
    assert summary.false_matches == 0
    assert summary.notices >= 1
