"""members by role: the committee and the office are looked up by their flag, not found among
every active member

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 05:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_member_committee", "member", ["is_committee", "status"], unique=False)
    op.create_index("ix_member_admin", "member", ["is_admin", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_member_admin", table_name="member")
    op.drop_index("ix_member_committee", table_name="member")
