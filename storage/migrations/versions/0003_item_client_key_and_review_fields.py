"""item: draft key for idempotent submission; fields for returns and reminders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.add_column(sa.Column("client_key", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("info_from_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("info_asked_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint(op.f("uq_item_client_key"), ["client_key"])
        batch.create_foreign_key(
            op.f("fk_item_info_asked_by_member"), "member", ["info_asked_by"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.drop_constraint(op.f("fk_item_info_asked_by_member"), type_="foreignkey")
        batch.drop_constraint(op.f("uq_item_client_key"), type_="unique")
        batch.drop_column("reminded_at")
        batch.drop_column("info_asked_by")
        batch.drop_column("info_from_status")
        batch.drop_column("client_key")
