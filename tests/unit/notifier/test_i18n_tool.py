"""scripts/i18n.py writes CLDR's plural rule into catalogues, and update/check catch a rule that changed."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[3]
POT = ROOT / "notifier" / "locale" / "messages.pot"


@pytest.fixture
def tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script, working on a locale folder of its own that holds a copy of the real template."""
    spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shutil.copy(POT, tmp_path / "messages.pot")
    monkeypatch.setattr(module, "LOCALE_DIR", tmp_path)
    monkeypatch.setattr(module, "POT", tmp_path / "messages.pot")
    return module


def _read(path: Path, language: str) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=language)


def _translated_catalogue(locale_dir: Path, language: str, plural_forms: str, nforms: int) -> Path:
    """A complete catalogue whose header carries ``plural_forms``, as an older Babel would have written it."""
    with POT.open("rb") as fh:
        template = read_po(fh)
    catalog = Catalog(locale=language, fuzzy=False)
    catalog.mime_headers = [("Plural-Forms", plural_forms)]
    catalog.update(template)
    for message in catalog:
        if message.id:
            message.string = tuple(f"form {i}" for i in range(nforms)) if message.pluralizable else "text"
            message.flags.discard("fuzzy")
    path = locale_dir / language / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as fh:
        write_po(fh, catalog, width=100, include_lineno=False, omit_header=False)
    return path


def _cldr(language: str) -> tuple[int, str]:
    rule = get_plural(language)
    return rule.num_plurals, rule.plural_expr


def test_init_writes_cldr_rule(tool: ModuleType) -> None:
    path = tool.init("he")
    catalog = _read(path, "he")
    assert (catalog.num_plurals, catalog.plural_expr) == _cldr("he")
    assert all(isinstance(m.string, tuple) and len(m.string) == catalog.num_plurals for m in catalog if m.pluralizable)


def test_update_gives_cldr_rule_and_sends_moved_plural_forms_back_to_the_translator(
    tool: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    # French before CLDR's "many" form (exact millions): two forms.
    path = _translated_catalogue(tool.LOCALE_DIR, "fr", "nplurals=2; plural=(n > 1);", 2)
    assert tool.check() is False  # complete, but not under CLDR's rule
    assert "Plural-Forms is not CLDR's" in capsys.readouterr().out

    assert tool.update() == [(path, True)]
    catalog = _read(path, "fr")
    assert (catalog.num_plurals, catalog.plural_expr) == _cldr("fr")
    plural = [m for m in catalog if m.pluralizable]
    singular = [m for m in catalog if m.id and not m.pluralizable]
    assert plural and all(m.fuzzy for m in plural)
    assert all(isinstance(m.string, tuple) and len(m.string) == 3 for m in plural)
    assert singular and not any(m.fuzzy for m in singular)
    assert tool.check() is False  # fuzzy until a translator has checked them


def test_update_keeps_translations_where_only_the_expression_text_changed(tool: ModuleType) -> None:
    # Russian as an older CLDR wrote it: other text, same form for every count.
    old = "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
    path = _translated_catalogue(tool.LOCALE_DIR, "ru", old, 3)
    assert tool.check() is True

    assert tool.update() == [(path, False)]
    catalog = _read(path, "ru")
    assert (catalog.num_plurals, catalog.plural_expr) == _cldr("ru")
    plural = [m for m in catalog if m.pluralizable]
    assert plural and not any(m.fuzzy for m in plural)
    assert all(m.string == ("form 0", "form 1", "form 2") for m in plural)
    assert tool.check() is True


def test_a_rule_that_moves_counts_between_forms_is_a_change_even_with_the_same_count(tool: ModuleType) -> None:
    # Arabic's old header gave 100-102 form 4 and 11-99 form 5; CLDR gives 11-99 form 4.
    old = (
        "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : "
        "n%100>=0 && n%100<=2 ? 4 : 5);"
    )
    path = _translated_catalogue(tool.LOCALE_DIR, "ar", old, 6)
    assert tool.update() == [(path, True)]
    assert all(m.fuzzy for m in _read(path, "ar") if m.pluralizable)

