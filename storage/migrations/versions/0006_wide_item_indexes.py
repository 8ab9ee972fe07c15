"""wide item indexes: figures, reports and overdue counts read the index, not the rows;
savings per unit by the unit's approvals

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same names, each still leading with the columns its queries filter on (the closing
# index now has the kind first: every query on it names the kind).
WIDE = {
    # Overdue counts, waiting lists and reminders: stage and time in the index.
    "ix_item_campaign_status": ["campaign_id", "status", "stage_since"],
    # Ideas submitted in a period and their authors (participation).
    "ix_item_campaign_submitted": ["campaign_id", "submitted_at", "kind", "unit_id", "id"],
    # Savings by approval time: counts, amounts and shares per unit and member.
    "ix_item_campaign_approved": [
        "campaign_id",
        "approved_at",
        "kind",
        "status",
        "unit_id",
        "certified_amount",
        "verified_amount",
        "id",
    ],
    # Rejections in a period and waste reports still open.
    "ix_item_campaign_closed": [
        "campaign_id",
        "kind",
        "closed_at",
        "status",
        "unit_id",
        "submitted_at",
    ],
}
NARROW = {
    "ix_item_campaign_status": ["campaign_id", "status"],
    "ix_item_campaign_submitted": ["campaign_id", "submitted_at"],
    "ix_item_campaign_approved": ["campaign_id", "approved_at"],
    "ix_item_campaign_closed": ["campaign_id", "closed_at"],
}


def _replace(indexes: dict[str, list[str]]) -> None:
    for name, columns in indexes.items():
        op.drop_index(name, table_name="item")
        op.create_index(name, "item", columns, unique=False)


# Savings per unit and period: one index range per unit, already in order.
UNIT_APPROVED = [
    "campaign_id",
    "unit_id",
    "approved_at",
    "status",
    "certified_amount",
    "verified_amount",
]


def upgrade() -> None:
    _replace(WIDE)
    op.create_index("ix_item_campaign_unit_approved", "item", UNIT_APPROVED, unique=False)


def downgrade() -> None:
    op.drop_index("ix_item_campaign_unit_approved", table_name="item")
    _replace(NARROW)
