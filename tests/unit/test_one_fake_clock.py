"""The suite keeps one fake clock (tests/fixtures/clock.py); a second one is a defect."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
OWN = TESTS / "fixtures" / "clock.py"


def test_no_test_module_defines_a_clock_of_its_own() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path == OWN:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(TESTS)}:{node.lineno} {node.name}" for node in ast.walk(tree)
                  if isinstance(node, ast.ClassDef) and "clock" in node.name.lower()]
    assert found == [], "use tests.fixtures.clock.FakeClock instead"
