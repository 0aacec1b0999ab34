"""A damaged store or bus file: every command says so in one line naming the file, and ``orbweaver doctor``.

The files are real: a store migrated and filled with page rows, and an embedded bus holding messages, written
by the project's own code, then damaged the two ways an operator meets: a file that is not SQLite at all
(``file is not a database``), and a good file with one b-tree page overwritten in the middle, which no query of
an unrelated table would ever notice. Commands run as the installed ``orbweaver`` program.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from core.bus.embedded import EmbeddedBus
from core.messages import RecheckRequest
from core.store import Store
from core.store.tables.crawler import Campaign, Page

ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")

COMMANDS = [
    ("hashset", "list"),
    ("campaign", "list"),
    ("config", "check"),
    ("worker", "hashing", "--max-messages", "1"),
]
"""Quick commands, and a stage start."""


def run(state: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    env = {**clean, "ORBWEAVER_CORE__DATA_DIR": str(state), "ORBWEAVER_CORE__LOG_LEVEL": "warning", **extra}
    return subprocess.run([ORBWEAVER, *args], capture_output=True, text=True, timeout=30, check=False, env=env)


def make_store(state: Path) -> Path:
    """A migrated store with a campaign and enough page rows to fill many b-tree pages."""
    path = state / "orbweaver.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    with store.session() as s:
        s.add(Campaign(id="c1", name="c1", seeds=["http://127.0.0.1/"]))
        s.flush()
        s.add_all(Page(campaign_id="c1", url=f"http://127.0.0.1/p/{n}.html?{'x' * 60}") for n in range(3000))
    store.dispose()
    return path


def make_bus(state: Path) -> Path:
    """An embedded bus holding enough messages to fill many b-tree pages."""
    path = state / "bus.sqlite3"
    bus = EmbeddedBus(path)
    for n in range(2000):
        bus.publish(RecheckRequest(media_url=f"http://127.0.0.1/img/{n}.png", sha256=f"{n:064x}"))
    bus.close()
    return path


def checkpointed(path: Path) -> None:
    """Fold the write-ahead log into the file, so damage to the file is damage to the data."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def garbage_header(path: Path) -> str:
    path.write_bytes(b"this is no database at all; " * 200)
    return "file is not a database"


def damage_mid_file(table: str) -> Callable[[Path], str]:
    def damage(path: Path) -> str:
        checkpointed(path)
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            leaves = [int(r[0]) for r in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (table,))]
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.close()
        assert len(leaves) > 10
        page = leaves[len(leaves) // 2]
        assert 2 < page < pages  # in the middle of the file: the header and the schema are intact
        with path.open("r+b") as f:
            # The page's b-tree header and its first cell pointers: an invalid page type and offsets.
            f.seek((page - 1) * page_size)
            f.write(b"\x2a" * 64)
        return "malformed"
    return damage


def assert_one_line_naming(result: subprocess.CompletedProcess[str], what: str, path: Path, reason: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith(f"orbweaver: the {what} {path} is damaged ("), lines[0]
    assert reason in lines[0] and "orbweaver doctor" in lines[0], lines[0]


@pytest.mark.parametrize("damage", [garbage_header, damage_mid_file("pages")], ids=["garbage-header", "mid-file"])
def test_a_damaged_store_ends_every_command_with_one_line_naming_it(tmp_path: Path,
                                                                   damage: Callable[[Path], str]) -> None:
    state = tmp_path / "state"
    path = make_store(state)
    reason = damage(path)
    for command in COMMANDS:
        assert_one_line_naming(run(state, *command), "store", path, reason)


@pytest.mark.parametrize("damage", [garbage_header, damage_mid_file("messages")], ids=["garbage-header", "mid-file"])
def test_a_damaged_bus_ends_every_command_with_one_line_naming_it(tmp_path: Path,
                                                                 damage: Callable[[Path], str]) -> None:
    state = tmp_path / "state"
    make_store(state)
    path = make_bus(state)
    reason = damage(path)
    for command in COMMANDS:
        assert_one_line_naming(run(state, *command), "bus", path, reason)


def test_damage_met_midway_through_a_command_is_named_in_one_line_too(tmp_path: Path) -> None:
    # Over the start check's size limit (0 MB here) only the header and schema are read at start; the damaged
    # campaigns page is met by the command's own query, and the error boundary names the file.
    state = tmp_path / "state"
    path = state / "orbweaver.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    with store.session() as s:
        s.add_all(Campaign(id=f"c{n}", name=f"campaign {n} {'x' * 150}", seeds=["http://127.0.0.1/"])
                  for n in range(400))
    store.dispose()
    reason = damage_mid_file("campaigns")(path)
    result = run(state, "campaign", "list", ORBWEAVER_CORE__START_CHECK_MAX_MB="0")
    assert_one_line_naming(result, "store", path, reason)


def test_doctor_reports_store_bus_and_blobs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    missing = run(state, "doctor", "--json")
    assert missing.returncode == 0, missing.stderr
    assert [json.loads(line)["health"] for line in missing.stdout.splitlines()] == ["missing"] * 3

    store, bus = make_store(state), make_bus(state)
    (state / "evidence").mkdir()
    healthy = run(state, "doctor")
    assert healthy.returncode == 0, healthy.stderr
    assert [line.split()[:2] for line in healthy.stdout.splitlines()] == [["store", "ok"], ["bus", "ok"],
                                                                          ["blobs", "ok"]]

    damage_mid_file("pages")(store)
    garbage_header(bus)
    sick = run(state, "doctor", "--json")
    assert sick.returncode == 1 and "Traceback" not in sick.stderr, sick.stderr
    found = {r["what"]: r for r in map(json.loads, sick.stdout.splitlines())}
    assert found["store"]["health"] == "damaged" and found["store"]["where"] == str(store)
    assert "malformed" in found["store"]["reason"]
    assert found["bus"]["health"] == "damaged" and "file is not a database" in found["bus"]["reason"]
    assert found["blobs"]["health"] == "ok"
    assert str(store) in sick.stderr and str(bus) in sick.stderr
