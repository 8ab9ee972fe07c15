"""outbox rows by item: a decision updates the item's review cards without reading every
message ever sent; a member's items by id: /my reads its page from the index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 19:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_message_item_id", "outbox_message", ["item_id"], unique=False)
    op.create_index(
        "ix_item_author_member_item", "item_author", ["member_id", "item_id"], unique=False
    )
    op.drop_index("ix_item_author_member_id", table_name="item_author")


def downgrade() -> None:
    op.create_index("ix_item_author_member_id", "item_author", ["member_id"], unique=False)
    op.drop_index("ix_item_author_member_item", table_name="item_author")
    op.drop_index("ix_outbox_message_item_id", table_name="outbox_message")
