"""the members' savings ledger (member_saving, built at the bot's next start, in its time
zone: campaign.ledger_tz); headcounts by status and unit from an index

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaign", sa.Column("ledger_tz", sa.String(length=64), nullable=True))
    op.create_table(
        "member_saving",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("fen", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_member_saving_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_member_saving_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "period", "member_id", name=op.f("pk_member_saving")
        ),
    )
    op.create_index(
        "ix_member_saving_rank", "member_saving", ["campaign_id", "period", "fen"], unique=False
    )
    op.create_index("ix_member_status_unit", "member", ["status", "unit_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_member_status_unit", table_name="member")
    op.drop_index("ix_member_saving_rank", table_name="member_saving")
    op.drop_table("member_saving")
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("ledger_tz")
