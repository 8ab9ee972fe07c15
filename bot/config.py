"""Settings of the bot, read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DB_PATH = Path("data") / "savings.db"
TELEGRAM_API_BASE = "https://api.telegram.org/bot"

# Tokens seen in templates and docs; a bot started with one of these cannot work.
PLACEHOLDER_TOKENS = {"", "changeme", "your-token-here", "123456:ABC-DEF", "<token>", "token"}


class MissingTokenError(RuntimeError):
    """Raised when the bot would start without a usable token."""


class Settings(BaseSettings):
    """Every setting of the bot; each one is documented in `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr = SecretStr("")
    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_DB_PATH.as_posix()}"
    bot_api_base_url: str = TELEGRAM_API_BASE
    timezone: str = "Asia/Shanghai"
    default_language: Literal["zh", "en"] = "zh"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"

    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_path: str = "telegram"
    webhook_secret: SecretStr = SecretStr("")

    sqlite_busy_timeout_ms: int = 5000
    join_requires_approval: bool = False
    draft_idle_hours: int = Field(default=24, ge=1)
    # Days an item may wait at a stage before whoever holds it is reminded (once a day).
    first_review_days: int = Field(default=3, ge=1)
    committee_days: int = Field(default=7, ge=1)
    implementation_days: int = Field(default=30, ge=1)
    # Optional: a group chat of the review committee that also gets the committee's cards.
    committee_chat_id: int = 0

    # Scheduled posts to the announcement chats, in TIMEZONE: the weekly bulletin (for the last
    # week), the monthly assessment (for the last month) and, on the first day of each quarter,
    # the quarterly ranking (with the half-year summary on 1 July and the year's on 1 January).
    bulletin_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    bulletin_time: time = time(9, 0)
    assessment_day: int = Field(default=1, ge=1, le=28)
    assessment_time: time = time(9, 0)
    ranking_time: time = time(9, 0)
    # A post missed while the bot was down goes out on start within this many hours, else never.
    post_grace_hours: int = Field(default=24, ge=0)
    # The monthly assessment's 100 points: savings per head against the month's share of the
    # target, participation, approval rate, and open waste reports (each costs WASTE_PENALTY).
    score_savings: int = Field(default=40, ge=0)
    score_participation: int = Field(default=30, ge=0)
    score_approval: int = Field(default=20, ge=0)
    score_waste: int = Field(default=10, ge=0)
    waste_penalty: int = Field(default=2, ge=0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Accept `1,2,3` (and spaces) as well as a JSON list."""
        if isinstance(value, str):
            return [
                int(part) for part in value.replace(";", ",").replace(" ", ",").split(",") if part
            ]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_telegram_accepts(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ValueError("use 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("default_language", mode="before")
    @classmethod
    def _normalise_language(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower().split("_")[0].split("-")[0]
        return value

    @model_validator(mode="after")
    def _scores_add_up(self) -> Settings:
        parts = (
            self.score_savings,
            self.score_participation,
            self.score_approval,
            self.score_waste,
        )
        if sum(parts) != 100:
            raise ValueError(
                "SCORE_SAVINGS + SCORE_PARTICIPATION + SCORE_APPROVAL + SCORE_WASTE must be 100"
            )
        return self

    @property
    def bot_api_file_url(self) -> str:
        """Where files are downloaded from: `.../bot` becomes `.../file/bot`, as on Telegram's
        own server and a self-hosted one."""
        base = self.bot_api_base_url
        head, sep, _ = base.rpartition("/bot")
        return f"{head}/file/bot" if sep else base

    def token_is_usable(self) -> bool:
        """True when the token looks like one @BotFather hands out."""
        token = self.bot_token.get_secret_value().strip()
        if token.lower() in PLACEHOLDER_TOKENS:
            return False
        head, sep, tail = token.partition(":")
        return bool(sep) and head.isdigit() and len(tail) >= 30

    def require_token(self) -> str:
        """Return the token or raise MissingTokenError."""
        if not self.token_is_usable():
            raise MissingTokenError(
                "BOT_TOKEN is missing or a placeholder: create a bot with @BotFather in Telegram "
                "(/newbot), then put BOT_TOKEN=<the token it gives you> in .env"
            )
        return self.bot_token.get_secret_value().strip()

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
