"""Extract translatable texts from the code and merge them into both catalogs.

Usage: python scripts/catalogs.py           # update bot/locale/*/messages.po
       python scripts/catalogs.py --check   # exit 1 if a text is missing or untranslated
New texts are added with an empty translation; fill them in both catalogs.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.i18n import CATALOG_DIRS, catalog_path  # noqa: E402

KEYWORDS = {"_": None, "n_": (1, 2), "plain": None, "ngettext": (1, 2), "gettext": None}
SOURCES = ("bot", "handlers")


def extract() -> Catalog:
    # A fixed creation date keeps the catalogs free of churn between runs.
    template = Catalog(project="savings-bot", fuzzy=False, creation_date=datetime(2026, 1, 1))
    for folder in SOURCES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            template.add(message, locations=[(f"{folder}/{filename}", lineno)])
    return template


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    template = extract()
    missing = 0
    for lang, locale in CATALOG_DIRS.items():
        path = catalog_path(lang)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, project="savings-bot")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        for message in catalog:
            if message.id and (
                not message.string
                or (isinstance(message.string, tuple) and not all(message.string))
            ):
                missing += 1
                print(f"{lang}: untranslated: {message.id!r}")
        if not args.check:
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, omit_header=False, sort_output=True)
    return 1 if (args.check and missing) else 0


if __name__ == "__main__":
    sys.exit(main())
