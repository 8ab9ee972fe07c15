"""report indexes: savings per unit by unit, counted status and approval time (no status test
row by row); the grade in the approval-time index (gold ideas without reading other rows)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPROVED = [
    "campaign_id",
    "approved_at",
    "kind",
    "status",
    "unit_id",
    "certified_amount",
    "verified_amount",
    "id",
]
NEW = {
    "ix_item_campaign_approved": [*APPROVED, "grade"],
    "ix_item_campaign_unit_approved": [
        "campaign_id",
        "unit_id",
        "status",
        "approved_at",
        "certified_amount",
        "verified_amount",
    ],
}
OLD = {
    "ix_item_campaign_approved": APPROVED,
    "ix_item_campaign_unit_approved": [
        "campaign_id",
        "unit_id",
        "approved_at",
        "status",
        "certified_amount",
        "verified_amount",
    ],
}


def _replace(indexes: dict[str, list[str]]) -> None:
    for name, columns in indexes.items():
        op.drop_index(name, table_name="item")
        op.create_index(name, "item", columns, unique=False)


def upgrade() -> None:
    _replace(NEW)


def downgrade() -> None:
    _replace(OLD)
