"""Logging set-up that never lets the bot token reach a log line."""

from __future__ import annotations

import logging


class RedactFilter(logging.Filter):
    """Replaces every occurrence of the secrets in a record's final message."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "<redacted>")
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Exceptions of HTTP clients carry the request URL, and the URL the token.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "<redacted>")
        return True


def install_redaction(secrets: list[str], logger: logging.Logger | None = None) -> RedactFilter:
    """Attach a redacting filter to every handler of `logger` (the root by default)."""
    target = logger or logging.getLogger()
    flt = RedactFilter(secrets)
    for handler in target.handlers:
        handler.addFilter(flt)
    return flt


def configure_logging(level: str, secrets: list[str]) -> None:
    """Log to stderr at `level`; httpx and httpcore only from WARNING (their INFO has URLs), and
    python-telegram-bot only from INFO: its DEBUG lines carry whole updates and API results,
    with people's names and texts, an anonymous reporter's among them."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpcore", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if logging.getLogger().getEffectiveLevel() < logging.INFO:
        logging.getLogger("telegram").setLevel(logging.INFO)
    install_redaction(secrets)
