"""the member ledger's rows counted per band of amounts (member_band): a place in the plant
adds up bands instead of counting every member ahead; built at the bot's next start

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_band",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("low", sa.Double(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_member_band_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "period", "low", name=op.f("pk_member_band")),
    )
    # The ledgers are rebuilt, bands included, at the next start (ledger.ensure_current).
    op.execute("UPDATE campaign SET ledger_tz = NULL")


def downgrade() -> None:
    op.drop_table("member_band")
