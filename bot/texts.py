"""Texts shared by several features: refusals, group names, statuses."""

from __future__ import annotations

from bot.i18n import Translator
from bot.services.errors import ServiceError
from storage.models import Grade, ItemStatus, MemberGroup


def _(message: str) -> str:
    """Mark a text for extraction; it is translated where it is shown."""
    return message


ERRORS: dict[str, str] = {
    "forbidden": _("Sorry, you are not allowed to do that."),
    "not_found": _("That record no longer exists."),
    "empty_name": _("The name cannot be empty. Please send it again."),
    "name_too_long": _("That is too long: at most {limit} characters. Please send it again."),
    "bad_headcount": _("Please send the headcount as a whole number, for example 120."),
    "unit_exists": _("A unit named {name} already exists. Please send another name."),
    "unit_gone": _("That unit is no longer available. Please start again with /start."),
    "bad_group": _("Please choose one of the groups."),
    "join_pending": _("Your registration is waiting for the campaign office's approval."),
    "deactivated": _("Your membership was deactivated. Please contact the campaign office."),
    "already_member": _("You are already registered."),
    "already_claimed": _("That record was already claimed. Please contact the campaign office."),
    "already_decided": _("This was already decided."),
    "decided_by": _("Already decided by {name} at {time}."),
    "reason_required": _("Please write a reason: it is sent to the author."),
    "reason_too_long": _("That is too long: at most {limit} characters. Please send it again."),
    "amount_required": _("Please send an amount greater than zero."),
    "bad_role": _("Unknown role."),
    "no_campaign": _(
        "There is no active campaign yet: the campaign office sets it up under Administration."
    ),
    "member_inactive": _("This member is not active."),
    "cannot_revoke_self": _("You cannot take your own admin role away."),
    "cannot_deactivate_self": _("You cannot deactivate yourself."),
    "bad_field": _("That cannot be changed here."),
    "dates_out_of_order": _("The campaign cannot end before it starts. Please send another date."),
    "negative_amount": _("The amount cannot be negative. Please send it again."),
    "category_exists": _("A category with that name already exists."),
    "empty_title": _("The title cannot be empty. Please send it again."),
    "title_too_long": _(
        "The title is too long: at most {limit} characters. Please send a shorter one."
    ),
    "body_too_long": _(
        "The description is too long: at most {limit} characters. Please send a shorter one."
    ),
}

GROUPS: dict[str, str] = {
    MemberGroup.PARTY: _("Party member"),
    MemberGroup.LEAGUE: _("Youth League member"),
    MemberGroup.STAFF: _("Other staff"),
}


STATUSES: dict[str, str] = {
    ItemStatus.FIRST_REVIEW: _("waiting for the unit's first review"),
    ItemStatus.COMMITTEE: _("with the review committee"),
    ItemStatus.NEEDS_INFO: _("returned for more information"),
    ItemStatus.APPROVED: _("approved, to be implemented"),
    ItemStatus.IMPLEMENTED: _("implemented, effect being verified"),
    ItemStatus.VERIFIED: _("implemented, effect verified"),
    ItemStatus.REJECTED: _("not adopted"),
    ItemStatus.REPORTED: _("reported, waiting to be handled"),
    ItemStatus.ACKNOWLEDGED: _("acknowledged, being handled"),
    ItemStatus.FIXED: _("fixed"),
    ItemStatus.DISMISSED: _("dismissed"),
}

# Item history: what each recorded action is called.
ACTIONS: dict[str, str] = {
    "submit": _("Submitted"),
    "forward": _("Forwarded to the committee"),
    "ask": _("Returned for more information"),
    "answer": _("Information added"),
    "approve": _("Approved"),
    "reject": _("Not adopted"),
    "implement": _("Implemented"),
    "verify": _("Effect verified"),
    "acknowledge": _("Acknowledged"),
    "assign": _("Assigned to a unit"),
    "fix": _("Fixed"),
    "dismiss": _("Dismissed"),
}

GRADES: dict[str, str] = {
    Grade.GOLD: _("🥇 Gold idea"),
    Grade.SILVER: _("🥈 Silver idea"),
    Grade.NONE: _("No grade"),
}


def error_text(tr: Translator, error: ServiceError) -> str:
    """The refusal in the user's language (HTML-safe)."""
    return tr._(ERRORS.get(error.code, ERRORS["forbidden"]), **error.params)


def error_plain(tr: Translator, error: ServiceError) -> str:
    """The refusal for an alert (not parsed as HTML)."""
    return tr.plain(ERRORS.get(error.code, ERRORS["forbidden"]), **error.params)


def group_name(tr: Translator, group: str) -> str:
    return tr.plain(GROUPS.get(group, GROUPS[MemberGroup.STAFF]))
