"""the plant's active members (headcount), with the changes logged by triggers on member
(headcount_change): "of N" in a member's place reads two small tables

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOG = "INSERT INTO headcount_change (change) VALUES ({change})"
_SWITCH = "CASE WHEN NEW.status = 'active' THEN 1 ELSE -1 END"
_SQLITE = [
    "CREATE TRIGGER headcount_member_in AFTER INSERT ON member WHEN NEW.status = 'active'"
    f" BEGIN {_LOG.format(change=1)}; END",
    "CREATE TRIGGER headcount_member_out AFTER DELETE ON member WHEN OLD.status = 'active'"
    f" BEGIN {_LOG.format(change=-1)}; END",
    "CREATE TRIGGER headcount_member_status AFTER UPDATE OF status ON member"
    " WHEN (OLD.status = 'active') <> (NEW.status = 'active')"
    f" BEGIN {_LOG.format(change=_SWITCH)}; END",
]
_POSTGRES = [
    f"""CREATE FUNCTION headcount_member() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change integer := 0;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        IF NEW.status = 'active' THEN change := change + 1; END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        IF OLD.status = 'active' THEN change := change - 1; END IF;
    END IF;
    IF change <> 0 THEN
        {_LOG.format(change="change")};
    END IF;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER headcount_member AFTER INSERT OR DELETE OR UPDATE OF status ON member"
    " FOR EACH ROW EXECUTE FUNCTION headcount_member()",
    """CREATE FUNCTION headcount_member_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM headcount_change;
    DELETE FROM headcount;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER headcount_member_truncated AFTER TRUNCATE ON member"
    " FOR EACH STATEMENT EXECUTE FUNCTION headcount_member_truncated()",
]


def upgrade() -> None:
    op.create_table(
        "headcount",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_headcount")),
    )
    op.create_table(
        "headcount_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_headcount_change")),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:  # no member written between the count and the triggers
        op.execute("LOCK TABLE member IN SHARE MODE")
    op.execute(
        "INSERT INTO headcount (id, active) SELECT 1, count(*) FROM member WHERE status = 'active'"
    )
    for statement in _SQLITE if sqlite else _POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("in", "out", "status"):
            op.execute(f"DROP TRIGGER headcount_member_{name}")
    else:
        op.execute("DROP TRIGGER headcount_member_truncated ON member")
        op.execute("DROP TRIGGER headcount_member ON member")
        op.execute("DROP FUNCTION headcount_member_truncated()")
        op.execute("DROP FUNCTION headcount_member()")
    op.drop_table("headcount_change")
    op.drop_table("headcount")
