"""Settings: a TOML file plus ORBWEAVER_* environment variables, closed to unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from core.errors import ConfigError
from core.settings import CONFIG_ENV, CoreSettings, Section, describe, load


class WorkerSettings(Section):
    """A stand-in for a stage's own section."""

    batch: int = Field(default=8, ge=1, description="Items per batch.")
    dry_run: bool = Field(default=False, description="Do everything but send.")
    tags: list[str] = Field(default_factory=list, description="Free-form labels.")


class AppSettings(Section):
    """A composed service settings object, as each service builds one."""

    core: CoreSettings = CoreSettings()
    worker: WorkerSettings = WorkerSettings()
    name: str = Field(default="svc", description="Service name.")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orbweaver.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_env() -> None:
    settings = load(AppSettings, environ={})
    assert settings.core.bus == "embedded:"
    assert settings.worker.batch == 8
    assert settings.name == "svc"


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name = "from-file"
[core]
bus = "kafka://127.0.0.1:1"
inline_media_limit = 10
[worker]
batch = 2
""",
    )
    env = {
        "ORBWEAVER_CORE__BUS": "kafka://127.0.0.1:2",
        "ORBWEAVER_WORKER__DRY_RUN": "true",
        "ORBWEAVER_WORKER__TAGS": '["a", "b"]',
        "UNRELATED": "ignored",
    }
    settings = load(AppSettings, path, environ=env, overrides={"worker": {"batch": 5}})
    assert settings.core.bus == "kafka://127.0.0.1:2"  # env beats file
    assert settings.core.inline_media_limit == 10  # file value kept beside an env override
    assert settings.worker.dry_run is True  # strings from env are coerced
    assert settings.worker.tags == ["a", "b"]  # JSON values from env
    assert settings.worker.batch == 5  # explicit overrides beat everything
    assert settings.name == "from-file"


def test_config_env_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "via-env"\n')
    settings = load(AppSettings, environ={CONFIG_ENV: str(path)})
    assert settings.name == "via-env"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("nmae = 'typo'\n", "nmae"),
        ("[core]\nbsu = 'typo'\n", "core.bsu"),
        ("[worker]\nbatch = 1\nbacth = 2\n", "worker.bacth"),
        ("[nope]\nx = 1\n", "nope"),
    ],
)
def test_unknown_key_in_file_is_named(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown setting '{key}'"):
        load(AppSettings, write(tmp_path, text), environ={})


@pytest.mark.parametrize(
    ("env_name", "key"),
    [
        ("ORBWEAVER_NMAE", "nmae"),
        ("ORBWEAVER_CORE__BSU", "core.bsu"),
        ("ORBWEAVER_WORKER__BATCH__DEEP", "worker.batch"),
    ],
)
def test_unknown_env_var_is_named(env_name: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(AppSettings, environ={env_name: "1"})
    assert key in str(caught.value)


def test_unknown_env_var_message_gives_env_name() -> None:
    with pytest.raises(ConfigError, match="ORBWEAVER_CORE__BSU"):
        load(AppSettings, environ={"ORBWEAVER_CORE__BSU": "x"})


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({"ORBWEAVER_CORE__INLINE_MEDIA_LIMIT": "lots"}, "core.inline_media_limit"),
        ({"ORBWEAVER_CORE__INLINE_MEDIA_LIMIT": "-1"}, "core.inline_media_limit"),
        ({"ORBWEAVER_CORE__LOG_LEVEL": "loud"}, "core.log_level"),
        ({"ORBWEAVER_WORKER__BATCH": "0"}, "worker.batch"),
        ({"ORBWEAVER_WORKER__DRY_RUN": "perhaps"}, "worker.dry_run"),
    ],
)
def test_type_errors_name_the_setting(env: dict[str, str], where: str) -> None:
    with pytest.raises(ConfigError, match="invalid settings") as caught:
        load(AppSettings, environ=env)
    assert f"{where}:" in str(caught.value)


def test_type_error_in_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[worker]\nbatch = 'eight'\n")
    with pytest.raises(ConfigError, match=r"worker\.batch: .*integer"):
        load(AppSettings, path, environ={})


def test_env_nesting_under_a_plain_value_is_an_error() -> None:
    with pytest.raises(ConfigError):
        load(AppSettings, environ={"ORBWEAVER_NAME": "x", "ORBWEAVER_NAME__INNER": "y"})


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(AppSettings, tmp_path / "absent.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(AppSettings, write(tmp_path, "[core\n"), environ={})


def test_core_defaults_live_under_data_dir(tmp_path: Path) -> None:
    core = load(AppSettings, environ={"ORBWEAVER_CORE__DATA_DIR": str(tmp_path / "state")}).core
    root = (tmp_path / "state").resolve()
    assert core.store_url() == f"sqlite:///{root / 'orbweaver.sqlite3'}"
    assert core.bus_url() == f"embedded:{root / 'bus.sqlite3'}"
    assert core.blobs_url() == str(root / "evidence")
    assert core.s3_endpoint_url is None


def test_core_explicit_urls_win_over_defaults(tmp_path: Path) -> None:
    core = CoreSettings(
        data_dir=tmp_path,
        bus="kafka://127.0.0.1:9092",
        store="postgresql://u@127.0.0.1:5432/db",
        blobs="s3://bucket/prefix",
    )
    assert core.bus_url() == "kafka://127.0.0.1:9092"
    assert core.store_url() == "postgresql://u@127.0.0.1:5432/db"
    assert core.blobs_url() == "s3://bucket/prefix"


def test_relative_data_dir_resolves_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    core = CoreSettings()
    assert core.store_url() == f"sqlite:///{tmp_path.resolve() / '.orbweaver' / 'orbweaver.sqlite3'}"


def test_every_core_setting_is_described() -> None:
    rows = {key: (env, desc) for key, env, _type, desc in describe(AppSettings)}
    assert rows["core.bus"][0] == "ORBWEAVER_CORE__BUS"
    assert rows["worker.batch"] == ("ORBWEAVER_WORKER__BATCH", "Items per batch.")
    undocumented = [key for key, (_env, desc) in rows.items() if not desc]
    assert undocumented == []
