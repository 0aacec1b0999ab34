"""The orbweaver command as a user runs it: settings checks, hashing files, importing a hash list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.images import jpeg_bytes

ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    return subprocess.run([ORBWEAVER, *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**clean, **(env or {})}, cwd=cwd)


def test_config_check_accepts_defaults_and_rejects_unknown_keys(tmp_path: Path) -> None:
    ok = run("config", "check", env={"ORBWEAVER_CORE__DATA_DIR": str(tmp_path)})
    assert ok.returncode == 0, ok.stderr
    assert "settings OK" in ok.stdout and "embedded:" in ok.stdout
    typo = run("config", "check", env={"ORBWEAVER_CORE__BUSS": "kafka://x:1"})
    assert typo.returncode == 2
    assert "core.buss" in typo.stderr and "ORBWEAVER_CORE__BUSS" in typo.stderr
    config = tmp_path / "orbweaver.toml"
    config.write_text('[matcher.thresholds]\npdq = { match = 16, review = 31 }\n[notifer]\nbatch_window_s = 5\n')
    bad_file = run("config", "check", "--config", str(config))
    assert bad_file.returncode == 2 and "notifer" in bad_file.stderr


def test_worker_names_are_the_registry_s(tmp_path: Path) -> None:
    # One name per stage: "matching" was the matcher's old stage name; its group always was "matcher".
    refused = run("worker", "matching", env={"ORBWEAVER_CORE__DATA_DIR": str(tmp_path)})
    assert refused.returncode == 2
    assert "'matching' is not one of hashing, matcher, review, notifier, crawler" in refused.stderr


def test_hash_prints_one_object_per_file_and_reasons_for_bad_ones(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(5, (320, 240)))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(good.read_bytes()[:300])
    result = run("hash", "--json", str(good), str(corrupt), str(tmp_path / "missing.jpg"))
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(good), str(corrupt), str(tmp_path / "missing.jpg")]
    assert len(records[0]["pdq"]) == 64 and len(records[0]["phash"]) == 16 and "error" not in records[0]
    assert 0 <= records[0]["pdq_quality"] <= 100
    assert records[1]["error"].startswith("corrupt") and len(records[1]["sha256"]) == 64
    assert records[2]["error"].startswith("unreadable")


def test_hashset_import_reports_bad_lines_and_lists(tmp_path: Path) -> None:
    env = {"ORBWEAVER_CORE__DATA_DIR": str(tmp_path / "state")}
    listing = tmp_path / "known.csv"
    listing.write_text(
        "hash,algorithm,label,classification,source\n"
        f"{'a' * 64},pdq,one,baseline_csam,test\n"
        "nothex,md5,two,,test\n"
        f"{'b' * 32},md5,three,not_a_class,test\n"
    )
    result = run("hashset", "import", "--name", "known", str(listing), env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["added"] == 1
    assert f"{listing}:3:" in result.stderr and f"{listing}:4:" in result.stderr
    listed = run("hashset", "list", env=env)
    assert '"known"' in listed.stdout
    exported = run("hashset", "export", "--name", "known", env=env)
    assert "a" * 64 in exported.stdout
