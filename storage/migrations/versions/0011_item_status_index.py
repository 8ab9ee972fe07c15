"""items by stage: the committee's review queue and the overdue look read the stage's items,
not every item ever submitted

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 21:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_item_status_stage", "item", ["status", "stage_since", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_item_status_stage", table_name="item")
