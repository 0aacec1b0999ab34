"""``orbweaver user``, ``token`` and ``serve`` as an operator runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import select

from core.store import Store
from core.store.tables.web import AuditEvent

ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")
PASSWORD = "correct horse battery"


def environment(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    return {**clean, "ORBWEAVER_CORE__DATA_DIR": str(tmp_path / "state"), "ORBWEAVER_WEB__ARGON2_TIME_COST": "1",
            "ORBWEAVER_WEB__ARGON2_MEMORY_KIB": "1024", "ORBWEAVER_WEB__ARGON2_PARALLELISM": "1"}


def run(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ORBWEAVER, *args], capture_output=True, text=True, timeout=120, check=False,
                          env=environment(tmp_path), input=stdin)


def test_user_create_list_disable_and_token_create(tmp_path: Path) -> None:
    created = run(tmp_path, "user", "create", "--role", "admin", "--name", "root", "--password-stdin",
                  stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["created"] == "root"
    short = run(tmp_path, "user", "create", "--role", "analyst", "--name", "ann", "--password-stdin", stdin="x\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    dup = run(tmp_path, "user", "create", "--role", "analyst", "--name", "root", "--password-stdin",
              stdin=PASSWORD + "\n")
    assert dup.returncode == 1 and "exists" in dup.stderr
    token = run(tmp_path, "token", "create", "--user", "root", "--name", "ci")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("owt_") and "cannot be shown again" in token.stderr
    assert "token id: 1\n" in token.stderr  # the HTTP Basic user name of Arachnid Shield clients
    listed = [json.loads(line) for line in run(tmp_path, "user", "list").stdout.splitlines()]
    assert [(u["name"], u["roles"], u["disabled"]) for u in listed] == [("root", ["admin"], False)]
    assert "password" not in json.dumps(listed)
    unlocked = run(tmp_path, "user", "unlock", "--name", "root")
    assert unlocked.returncode == 0 and json.loads(unlocked.stdout) == {"unlocked": "root", "failures_cleared": 0}
    assert run(tmp_path, "user", "disable", "--name", "root").returncode == 0
    assert json.loads(run(tmp_path, "user", "list").stdout)["disabled"] is True
    missing = run(tmp_path, "user", "disable", "--name", "ghost")
    assert missing.returncode == 1 and "no user named 'ghost'" in missing.stderr
    bad_role = run(tmp_path, "user", "create", "--role", "king", "--name", "k", "--password-stdin", stdin="x\n")
    assert bad_role.returncode == 2
    store = Store(f"sqlite:///{tmp_path / 'state' / 'orbweaver.sqlite3'}")
    with store.session() as s:
        audited = [(e.actor.startswith("cli:"), e.action, e.subject)
                   for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    store.dispose()
    assert audited == [(True, "admin.user_create", "user:root"), (True, "admin.token_create", "user:root"),
                       (True, "admin.user_unlock", "user:root"), (True, "admin.user_disable", "user:root")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_the_given_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([ORBWEAVER, "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.loads(response.read())
                    headers = dict(response.headers)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert body == {"status": "ok"}, proc.stdout.read() if proc.stdout and proc.poll() is not None else ""
        assert "server" not in {k.lower() for k in headers}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/review", headers={"Accept": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=5)
            raise AssertionError("anonymous request was served")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


def test_org_add_list_opt_in_and_members(tmp_path: Path) -> None:
    added = run(tmp_path, "org", "add", "--name", "Point de Contact", "--country", "fr", "--country", "BE",
                "--category", "fr_pedo=baseline_csam", "--notice-email", "signal@pdc.test", "--opted-in")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"created": "Point de Contact", "id": 2}
    created = run(tmp_path, "user", "create", "--role", "analyst", "--name", "ann", "--org", "2", "--password-stdin",
                  stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert run(tmp_path, "org", "opt-in", "--id", "2", "--off").returncode == 0
    listed = [json.loads(line) for line in run(tmp_path, "org", "list").stdout.splitlines()]
    assert [(o["id"], o["kind"], o["countries"], o["opted_in"]) for o in listed] == [
        (1, "operator", [], True), (2, "hotline", ["BE", "FR"], False)]
    assert listed[1]["notice_domain"] == "pdc.test" and listed[1]["categories"] == {"fr_pedo": "baseline_csam"}
    refused = run(tmp_path, "org", "member", "--name", "ann", "--id", "9")
    assert refused.returncode == 1 and "no organisation with id 9" in refused.stderr
