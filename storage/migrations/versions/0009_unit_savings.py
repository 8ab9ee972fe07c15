"""the units' savings ledger (unit_saving), built with the members' at the bot's next start

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unit_saving",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_unit_saving_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["unit.id"], name=op.f("fk_unit_saving_unit_id_unit"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "period", "unit_id", name=op.f("pk_unit_saving")),
    )
    # Both ledgers are rebuilt together at the next start (bot.services.ledger.ensure_current).
    op.execute("UPDATE campaign SET ledger_tz = NULL")


def downgrade() -> None:
    op.drop_table("unit_saving")
