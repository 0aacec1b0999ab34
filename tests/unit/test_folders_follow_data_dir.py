"""Folder settings left unset live under ``data_dir``; ``orbweaver config show`` says where each file goes."""

from __future__ import annotations

from pathlib import Path

from notifier.channels import OutboxChannel, OutboxSettings
from orbweaver.settings import load_settings
from tests.unit.test_cli import run


def outbox_of(data_dir: Path, **notifier: object) -> Path:
    settings = load_settings(overrides={"core": {"data_dir": str(data_dir)}, "notifier": notifier})
    return settings.notifier.section(OutboxChannel.name, OutboxSettings).dir


def test_the_outbox_follows_data_dir_unless_set_on_its_own(tmp_path: Path) -> None:
    assert outbox_of(tmp_path / "state") == tmp_path / "state" / "outbox"
    assert outbox_of(tmp_path / "state", outbox={"dir": str(tmp_path / "mail")}) == tmp_path / "mail"


def test_config_show_lists_where_each_file_goes(tmp_path: Path) -> None:
    shown = run("config", "show", env={"ORBWEAVER_CORE__DATA_DIR": str(tmp_path / "state"),
                                       "COLUMNS": "400"})
    assert shown.returncode == 0, shown.stderr
    assert '"dir": "' + str(tmp_path / "state" / "outbox") + '"' in shown.stdout
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in shown.stderr.splitlines() if line.count("│") == 3}
    assert lines["notice outbox"] == str(tmp_path / "state" / "outbox")
    assert lines["crawl frontiers"] == str(tmp_path / "state" / "frontiers")
    assert lines["store"] == f"sqlite:///{tmp_path / 'state' / 'orbweaver.sqlite3'}"
