"""Writing the administrative audit trail inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AdminEvent


def record_admin(
    session: AsyncSession,
    actor_id: int | None,
    action: str,
    target: str | None,
    data: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Add one audit row: who did what to which record, when."""
    session.add(
        AdminEvent(actor_id=actor_id, action=action, target=target, data=data, created_at=now)
    )
