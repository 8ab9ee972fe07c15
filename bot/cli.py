"""The `savings-bot` command line: run the bot, upgrade the database, export the ledgers, and
build an offline demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from bot.config import MissingTokenError, Settings
from bot.i18n import LANGUAGES
from bot.logsetup import configure_logging

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="savings-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="upgrade the database, then serve updates")
    run.add_argument(
        "--webhook", action="store_true", help="serve a webhook instead of long polling"
    )
    sub.add_parser("migrate", help="upgrade the database to the latest schema")
    export = sub.add_parser("export", help="write the ledgers workbook (XLSX) of the database")
    export.add_argument("--out", required=True, type=Path, help="the .xlsx file to write")
    export.add_argument("--lang", choices=LANGUAGES, help="language (default: DEFAULT_LANGUAGE)")
    demo = sub.add_parser(
        "demo",
        help="build a demo plant in a fresh SQLite file and write its weekly bulletin, monthly "
        "assessment and ledgers into a folder (no Telegram, no token)",
    )
    demo.add_argument("--out", required=True, type=Path, help="the folder to write into")
    demo.add_argument("--lang", choices=LANGUAGES, help="language (default: DEFAULT_LANGUAGE)")
    demo.add_argument(
        "--today", type=date.fromisoformat, help="the demo's today, YYYY-MM-DD (default: today)"
    )
    return parser


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"savings-bot: bad setting: {errors}") from None


def cmd_migrate(settings: Settings) -> int:
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    logger.info("Database is at the latest schema")
    return 0


def cmd_run(settings: Settings, webhook: bool) -> int:
    try:
        settings.require_token()
    except MissingTokenError as exc:
        print(f"savings-bot: {exc}", file=sys.stderr)
        return 2
    from bot.app import ALLOWED_UPDATES, build_application, settle_memory
    from storage.migrate import upgrade

    if webhook and (not settings.webhook_url or not settings.webhook_secret.get_secret_value()):
        print(
            "savings-bot: --webhook needs WEBHOOK_URL and WEBHOOK_SECRET in .env", file=sys.stderr
        )
        return 2
    upgrade(settings.database_url)
    app = build_application(settings)
    settle_memory()
    if webhook:
        logger.info("Serving a webhook on %s:%s", settings.webhook_listen, settings.webhook_port)
        app.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=settings.webhook_path,
            webhook_url=settings.webhook_url.rstrip("/") + "/" + settings.webhook_path,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        logger.info("Polling Telegram for updates")
        app.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


def cmd_export(settings: Settings, out: Path, lang: str | None) -> int:
    from bot.demo import export_file
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    summary = asyncio.run(export_file(settings, out, lang or settings.default_language))
    print(
        f"{out}: {summary.rows.get('ledger', 0)} counted ideas, {summary.certified_total} certified"
    )
    return 0


def cmd_demo(settings: Settings, out: Path, lang: str | None, today: date | None) -> int:
    from bot.demo import build, fresh_database

    url = fresh_database(out)
    for path in asyncio.run(build(settings, out, url, lang or settings.default_language, today)):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = _load_settings()
    secrets = [settings.bot_token.get_secret_value(), settings.webhook_secret.get_secret_value()]
    configure_logging(settings.log_level, secrets)
    if args.command == "migrate":
        return cmd_migrate(settings)
    if args.command == "export":
        return cmd_export(settings, args.out, args.lang)
    if args.command == "demo":
        return cmd_demo(settings, args.out, args.lang, args.today)
    return cmd_run(settings, args.webhook)


if __name__ == "__main__":
    sys.exit(main())
