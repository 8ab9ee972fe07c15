"""The composition root: `build_application(settings)` wires everything together."""

from __future__ import annotations

import gc
import logging
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, ContextTypes, Defaults, TypeHandler
from telegram.request import BaseRequest, HTTPXRequest

from bot.clock import Clock
from bot.commands import bot_commands, menu_languages
from bot.config import Settings
from bot.context import AppState, BotContext
from bot.persistence import SqlPersistence
from bot.request import ReleasingRequest
from bot.sender import OutboxSender
from bot.services import ledger, people, posts, updates
from bot.services import review as review_service
from handlers import admin, common, my_items, registration, reports, review, submission
from storage.db import Database

logger = logging.getLogger(__name__)

# The last handler group: runs after every feature for every update.
AFTER_ALL = 1000
OUTBOX_INTERVAL = 3.0
DRAFT_SWEEP = 900.0  # seconds between looks for idle drafts
REMINDER_SWEEP = 3600.0  # overdue items are looked for hourly; each is reminded once a day
CATCH_UP_DELAY = 30.0  # seconds after start: posts missed while down (within the grace window)


class BotApplication(Application[Any, BotContext, Any, Any, AppState, Any]):
    """PTB's application; persistence changes PTB collects are written at once, in one
    transaction (see `SqlPersistence.write_pending`), whoever asked for them."""

    async def process_update(self, update: object) -> None:
        async with self.bot_data.db.update_scope():  # the update's reads share one session
            await super().process_update(update)

    async def update_persistence(self) -> None:
        """PTB's timer, shutdown and tools: everything queued is written. A failure is logged
        and the changes stay queued for the next write: raised here, it would end PTB's timer
        for good, and `stop()` would raise it again and skip the final write at shutdown (whose
        `SqlPersistence.flush` still raises)."""
        try:
            await self._persist(ids_may_wait=False)
        except Exception:
            logger.warning(
                "Could not save the bot's state: it is kept for the next write", exc_info=True
            )

    async def persist_update(self) -> None:
        """After each update: its changes are written; with none, its id may wait a moment
        to be written with others (`bot.persistence.HANDLED_WAIT`)."""
        await self._persist(ids_may_wait=True)

    async def _persist(self, *, ids_may_wait: bool) -> None:
        await super().update_persistence()
        if isinstance(self.persistence, SqlPersistence):
            await self.persistence.write_pending(ids_may_wait=ids_may_wait)


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    db: Database | None = None,
    clock: Clock | None = None,
    rate_limiter: bool = True,
) -> BotApplication:
    """Build the bot; tests pass an offline `request`, everything else comes from settings."""
    token = settings.require_token()
    db = db or Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    clock = clock or Clock()
    context_types = ContextTypes(context=BotContext, bot_data=AppState)
    persistence = SqlPersistence(db, clock)
    builder = (
        Application.builder()
        .application_class(BotApplication)
        .token(token)
        .base_url(settings.bot_api_base_url)
        .base_file_url(settings.bot_api_file_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=settings.tzinfo))
        .context_types(context_types)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .persistence(persistence)
    )
    # PTB's own default transport for the bot's calls, unless one is given (tests, offline).
    calls = request or HTTPXRequest(connection_pool_size=256)
    builder = builder.request(ReleasingRequest(calls, db))
    if request is not None:
        builder = builder.get_updates_request(request)
    if rate_limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=2))  # type: ignore[arg-type]
    app = builder.build()
    assert isinstance(app, BotApplication)

    state = app.bot_data
    state.settings = settings
    state.db = db
    state.clock = clock
    state.outbox = OutboxSender(state.db, state.clock, settings.default_language)
    state.persistence = persistence
    state.failed_updates = set()

    # Order matters: group -2 loads the member for every update before any feature sees it.
    common.register_first(app)
    registration.register(app)
    submission.register(app)
    my_items.register(app)
    review.register(app)
    admin.register(app)
    reports.register(app)
    common.register_last(app)
    app.add_handler(TypeHandler(Update, _after_update), group=AFTER_ALL)
    if app.job_queue is not None:
        app.job_queue.run_repeating(_outbox_job, interval=OUTBOX_INTERVAL, first=1, name="outbox")
        app.job_queue.run_repeating(_drafts_job, interval=DRAFT_SWEEP, first=60, name="drafts")
        app.job_queue.run_repeating(
            _reminders_job, interval=REMINDER_SWEEP, first=120, name="reminders"
        )
        schedule_posts(app, settings)
    return app


def settle_memory() -> None:
    """Once the application is built, before it takes updates: what exists then (libraries,
    catalogs, the application) lives as long as the process, so it is moved out of the cyclic
    garbage collector's sight, and a full collection walks only what updates leave behind
    (bench/run.py reports the pauses)."""
    gc.collect()
    gc.freeze()


# PTB's run_daily numbers the days from Sunday = 0.
PTB_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def schedule_posts(app: BotApplication, s: Settings) -> None:
    """The weekly bulletin, the monthly assessment, and on the first day of each quarter the
    ranking (and the half-year and year summaries); a catch-up look shortly after start.
    Every job posts whatever is due (`posts.run_due`): claims make each post go out once."""
    jq = app.job_queue
    assert jq is not None
    tz = s.tzinfo
    jq.run_daily(
        _posts_job,
        time=s.bulletin_time.replace(tzinfo=tz),
        days=(PTB_DAYS[s.bulletin_day],),
        name="post:weekly",
    )
    jq.run_monthly(
        _posts_job,
        when=s.assessment_time.replace(tzinfo=tz),
        day=s.assessment_day,
        name="post:monthly",
    )
    jq.run_custom(
        _posts_job,
        job_kwargs={
            "trigger": "cron",
            "month": "1,4,7,10",
            "day": 1,
            "hour": s.ranking_time.hour,
            "minute": s.ranking_time.minute,
            "timezone": tz,
        },
        name="post:quarterly",
    )
    jq.run_once(_posts_job, when=CATCH_UP_DELAY, name="post:catch-up")


async def _posts_job(context: BotContext) -> None:
    state = context.bot_data
    if await posts.run_due(state.db, state.settings, state.clock.now()):
        await state.outbox.flush(context.bot)


async def _after_update(update: Update, context: BotContext) -> None:
    """Record the update as handled with the conversation positions and drafts it changed
    (one transaction, now rather than on PTB's timer: a crash loses nothing; an update that
    changed none has its id written with the next write, within a second), then send what
    its handlers wrote to the outbox without holding up the next update."""
    app = context.application
    assert isinstance(app, BotApplication)
    # PTB marks the update's user and chat data as changed only after the last group: mark now.
    chat, user = update.effective_chat, update.effective_user
    app.mark_data_for_update_persistence(
        chat_ids=chat.id if chat else None, user_ids=user.id if user else None
    )
    failed = context.bot_data.failed_updates
    if update.update_id in failed:  # a failed update may be delivered again and retried
        failed.discard(update.update_id)
    else:
        context.bot_data.persistence.handled(update.update_id)
    try:
        await app.persist_update()
    except Exception:  # the person has their answer; the changes stay queued for the next write
        logger.warning(
            "Could not save where update %s left things", update.update_id, exc_info=True
        )
    # When the application is not running (tests, one-off tools) the caller drains the outbox.
    if context.outbox_dirty and app.running:
        app.create_task(
            context.bot_data.outbox.flush(context.bot), update=update, name="outbox-flush"
        )


async def _outbox_job(context: BotContext) -> None:
    """Retries and anything left by a crash: the outbox is swept every few seconds."""
    await context.bot_data.outbox.flush(context.bot)


async def _drafts_job(context: BotContext) -> None:
    await submission.expire_drafts(context.application)
    now = context.bot_data.clock.now()
    await updates.forget_before(context.bot_data.db, now - updates.MEMORY)
    await people.settle_headcount(context.bot_data.db)


async def _reminders_job(context: BotContext) -> None:
    s = context.bot_data.settings
    limits = review_service.Limits.of(s)
    now = context.bot_data.clock.now()
    if await review_service.send_reminders(context.bot_data.db, limits, now, s.default_language):
        await context.bot_data.outbox.flush(context.bot)


async def _post_init(app: Application[Any, Any, Any, Any, AppState, Any]) -> None:
    """Bring the savings ledger to the configured time zone; register the command menu in
    every language."""
    state = app.bot_data
    if await ledger.ensure_current(state.db, state.settings.tzinfo):
        logger.info("Savings ledger rebuilt in %s", state.settings.timezone)
    await people.settle_headcount(state.db, recount=True)
    for language_code, lang in menu_languages(app.bot_data.settings.default_language):
        await app.bot.set_my_commands(bot_commands(lang), language_code=language_code)


async def _post_shutdown(app: Application[Any, Any, Any, Any, AppState, Any]) -> None:
    await app.bot_data.db.dispose()


ALLOWED_UPDATES = Update.ALL_TYPES
