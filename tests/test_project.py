"""The project's promises outside the code: README commands, CI, translations complete."""

from __future__ import annotations

import re
import string
from pathlib import Path

from babel.messages.pofile import read_po

from bot.i18n import CATALOG_DIRS, catalog_path

ROOT = Path(__file__).resolve().parent.parent
INSTALL_AND_RUN = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/savings-bot run"


def _test_command() -> str:
    match = re.search(r'^TEST_CMD="(.*)"$', (ROOT / ".ci" / "run").read_text(), re.M)
    assert match, ".ci/run must define TEST_CMD"
    return match.group(1)


def test_readme_has_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"    {INSTALL_AND_RUN}\n" in readme
    assert f"    {_test_command()}\n" in readme
    assert 'bash -c "$TEST_CMD"' in (ROOT / ".ci" / "run").read_text()


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _extracted() -> set[str]:
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from catalogs import extract  # type: ignore[import-not-found]

    return {m.id for m in extract() if m.id}


def test_every_text_is_translated_in_both_catalogs() -> None:
    wanted = _extracted()
    assert len(wanted) > 50
    for lang, locale in CATALOG_DIRS.items():
        with catalog_path(lang).open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        translated = {m.id: m.string for m in catalog if m.id and m.string}
        missing = sorted(wanted - set(translated), key=str)
        assert not missing, f"{lang} lacks: {missing[:10]}"
        for msgid, msgstr in translated.items():
            assert _fields(str(msgid)) == _fields(str(msgstr)), f"{lang}: placeholders of {msgid!r}"
