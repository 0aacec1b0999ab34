"""The import-linter layers contract holds, and would catch a stage importing downstream."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).parent / "lint-imports")


def test_project_respects_its_layers() -> None:
    result = subprocess.run([LINT, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " kept, 0 broken" in result.stdout  # the layers and the table-ownership contracts


def test_contract_catches_a_downstream_import(tmp_path: Path) -> None:
    # The same contract over a miniature tree in which hashing imports matcher (downstream).
    for pkg, body in {
        "core": "", "crawler": "import core\n", "hashing": "from matcher import x\n",
        "matcher": "x = 1\nimport hashing\n",
    }.items():
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text(body)
    config = tmp_path / "pyproject.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["core", "crawler", "hashing", "matcher"]
        [[tool.importlinter.contracts]]
        name = "layers"
        type = "layers"
        layers = ["matcher", "hashing", "crawler", "core"]
    """))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([LINT, "--config", str(config)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "hashing -> matcher" in result.stdout
