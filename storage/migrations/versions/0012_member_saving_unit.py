"""the member ledger knows each member's unit: a rank in the unit is an index range, not a
lookup per member of the unit

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("member_saving", sa.Column("unit_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE member_saving SET unit_id ="
        " (SELECT member.unit_id FROM member WHERE member.id = member_saving.member_id)"
    )
    op.create_index(
        "ix_member_saving_unit_rank",
        "member_saving",
        ["campaign_id", "period", "unit_id", "fen"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_member_saving_unit_rank", table_name="member_saving")
    with op.batch_alter_table("member_saving") as batch:
        batch.drop_column("unit_id")
