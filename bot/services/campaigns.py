"""The campaign: its dates, targets, reward rule and categories."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from decimal import Decimal, DecimalException
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.amounts import AmountError, parse_amount
from bot.services.audit import record_admin
from bot.services.errors import ServiceError
from storage.db import Database
from storage.models import Campaign, Category

# Categories named in the campaign reports (DOMAIN.md); editable by the office.
DEFAULT_CATEGORIES: list[tuple[str, str, str]] = [
    ("management", "管理创新", "Management innovation"),
    ("technical", "技术创新", "Technical innovation"),
    ("process", "工艺改良", "Process improvement"),
    ("repair", "修旧利废", "Repair and reuse"),
    ("energy", "节能降耗", "Energy saving"),
    ("material", "节约挖潜", "Material saving"),
    ("other", "其他", "Other"),
]

MAX_CATEGORY_NAME = 40
MAX_CAMPAIGN_NAME = 100

EDITABLE_FIELDS = {
    "name",
    "starts_on",
    "ends_on",
    "per_head_target",
    "total_target",
    "gold_reward",
    "silver_reward",
    "reward_share",
}


# The active campaign (the newest one if several are marked active).
CURRENT_ID = (
    select(Campaign.id).where(Campaign.active.is_(True)).order_by(Campaign.id.desc()).limit(1)
)
_CURRENT = select(Campaign).where(Campaign.id == CURRENT_ID.scalar_subquery())


async def current(session: AsyncSession) -> Campaign | None:
    """The active campaign (the newest one if several are marked active)."""
    return await session.scalar(_CURRENT)


async def get_current(db: Database) -> Campaign | None:
    async with db.read() as session:
        return await current(session)


async def ensure_default(db: Database, today: date) -> Campaign:
    """Create this year's campaign with the usual targets and categories if there is none."""
    async with db.write() as session:
        campaign = await current(session)
        if campaign is not None:
            return campaign
        campaign = Campaign(
            name=f"人均节约1000元，全年节支100万 ({today.year})",
            starts_on=date(today.year, 1, 1),
            ends_on=date(today.year, 12, 31),
        )
        session.add(campaign)
        await session.flush()
        for position, (code, zh, en) in enumerate(DEFAULT_CATEGORIES):
            session.add(
                Category(
                    campaign_id=campaign.id, code=code, name_zh=zh, name_en=en, position=position
                )
            )
        return campaign


_ALL_CATEGORIES = (
    select(Category)
    .where(Category.campaign_id == bindparam("campaign_id"))
    .order_by(Category.position, Category.id)
)
_CURRENT_CATEGORIES = _ALL_CATEGORIES.where(Category.archived.is_(False))


async def categories(db: Database, campaign_id: int, *, archived: bool = False) -> list[Category]:
    async with db.read() as session:
        query = _ALL_CATEGORIES if archived else _CURRENT_CATEGORIES
        return list(await session.scalars(query, {"campaign_id": campaign_id}))


async def update_field(
    db: Database, actor_id: int, campaign_id: int, field: str, value: Any, now: datetime
) -> Campaign:
    """Change one field of the campaign, keeping its dates in order."""
    if field not in EDITABLE_FIELDS:
        raise ServiceError("bad_field")
    async with db.write() as session:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise ServiceError("not_found")
        old = getattr(campaign, field)
        starts = value if field == "starts_on" else campaign.starts_on
        ends = value if field == "ends_on" else campaign.ends_on
        if starts > ends:
            raise ServiceError("dates_out_of_order")
        if isinstance(value, Decimal) and value < 0:
            raise ServiceError("negative_amount")
        setattr(campaign, field, value)
        record_admin(
            session,
            actor_id,
            "campaign.update",
            f"campaign:{campaign_id}",
            {"field": field, "old": str(old), "new": str(value)},
            now,
        )
        return campaign


async def add_category(
    db: Database, actor_id: int, campaign_id: int, name_zh: str, name_en: str, now: datetime
) -> Category:
    async with db.write() as session:
        exists = await session.scalar(
            select(func.count())
            .select_from(Category)
            .where(
                Category.campaign_id == campaign_id,
                (Category.name_zh == name_zh) | (Category.name_en == name_en),
            )
        )
        if exists:
            raise ServiceError("category_exists")
        position = await session.scalar(
            select(func.coalesce(func.max(Category.position), -1) + 1).where(
                Category.campaign_id == campaign_id
            )
        )
        # Codes of the default categories are words; added ones only need to be unique.
        code = f"c{secrets.token_hex(6)}"
        category = Category(
            campaign_id=campaign_id,
            code=code,
            name_zh=name_zh,
            name_en=name_en,
            position=int(position or 0),
        )
        session.add(category)
        await session.flush()
        record_admin(
            session,
            actor_id,
            "category.add",
            f"category:{category.id}",
            {"zh": name_zh, "en": name_en},
            now,
        )
        return category


async def set_category_archived(
    db: Database, actor_id: int, category_id: int, archived: bool, now: datetime
) -> Category:
    async with db.write() as session:
        category = await session.get(Category, category_id)
        if category is None:
            raise ServiceError("not_found")
        category.archived = archived
        record_admin(
            session,
            actor_id,
            "category.archive" if archived else "category.restore",
            f"category:{category_id}",
            None,
            now,
        )
        return category


async def rename_category(
    db: Database, actor_id: int, category_id: int, name_zh: str, name_en: str, now: datetime
) -> Category:
    async with db.write() as session:
        category = await session.get(Category, category_id)
        if category is None:
            raise ServiceError("not_found")
        old = {"zh": category.name_zh, "en": category.name_en}
        category.name_zh, category.name_en = name_zh, name_en
        record_admin(
            session,
            actor_id,
            "category.rename",
            f"category:{category_id}",
            {"old": old, "new": {"zh": name_zh, "en": name_en}},
            now,
        )
        return category


def parse_category_names(text: str) -> tuple[str, str]:
    """ "中文名 / English name" (the English one defaults to the Chinese)."""
    zh, _, en = text.partition("/")
    zh, en = zh.strip(), en.strip() or zh.strip()
    if not zh:
        raise ServiceError("empty_name")
    if len(zh) > MAX_CATEGORY_NAME or len(en) > MAX_CATEGORY_NAME:
        raise ServiceError("name_too_long", limit=MAX_CATEGORY_NAME)
    return zh, en


def parse_value(field: str, text: str) -> Any:
    """A typed value of an editable campaign field: a date, a name, a share in %, or yuan."""
    text = text.strip()
    if field in ("starts_on", "ends_on"):
        try:
            return date.fromisoformat(text.replace("/", "-").replace(".", "-"))
        except ValueError:
            raise ServiceError("bad_date") from None
    if field == "name":
        if not text or len(text) > MAX_CAMPAIGN_NAME:
            raise ServiceError("name_too_long", limit=MAX_CAMPAIGN_NAME)
        return text
    if field == "reward_share":
        try:
            value = Decimal(text.rstrip("%％").strip()) / 100
            # "NaN" divides fine but cannot be compared; "1E+99999999999" overflows.
            valid = value.is_finite() and Decimal(0) <= value <= Decimal(1)
        except DecimalException:
            valid = False
        if not valid:
            raise ServiceError("bad_share")
        return value
    try:
        return parse_amount(text)
    except AmountError:
        raise ServiceError("bad_amount") from None
