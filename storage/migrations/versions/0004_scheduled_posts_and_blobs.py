"""scheduled_post claims for exactly-once bulletins; blob for charts in the outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["member.id"], name=op.f("fk_scheduled_post_created_by_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_post")),
        sa.UniqueConstraint("kind", "period", "chat_id", name=op.f("uq_scheduled_post_kind")),
    )
    op.create_table(
        "blob",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blob")),
    )
    # Figures filter by unit and approval time; rankings by author.
    op.create_index("ix_item_campaign_approved", "item", ["campaign_id", "approved_at"])
    op.create_index("ix_item_campaign_closed", "item", ["campaign_id", "closed_at"])


def downgrade() -> None:
    op.drop_index("ix_item_campaign_closed", table_name="item")
    op.drop_index("ix_item_campaign_approved", table_name="item")
    op.drop_table("blob")
    op.drop_table("scheduled_post")
