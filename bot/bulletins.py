"""Reports as posts: the text (HTML, split to Telegram's limit) and the chart of each."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.cards import money
from bot.charts import units_chart
from bot.i18n import Translator
from bot.services.figures import PlantFigures, Standing, UnitFigures, WorkerFigures
from bot.services.periods import Period, PeriodKind
from bot.services.reports import Report, ReportKind
from bot.texts import group_name

MAX_MESSAGE = 4096
BAR_CELLS = 10
RANKED_UNITS = 20
MEDALS = ("🥇", "🥈", "🥉")


def _(message: str) -> str:
    """Mark a message for extraction; translated where it is shown."""
    return message


TITLES = {
    ReportKind.WEEKLY: _("📢 <b>Savings bulletin</b> · {period}"),
    ReportKind.MONTHLY: _("📊 <b>Monthly assessment</b> · {period}"),
    ReportKind.QUARTERLY: _("🏆 <b>Quarterly ranking</b> · {period}"),
    ReportKind.HALF: _("🏆 <b>Half-year summary</b> · {period}"),
    ReportKind.YEAR: _("🏆 <b>Year-end summary</b> · {period}"),
}
KIND_NAMES = {
    ReportKind.WEEKLY: _("Weekly bulletin"),
    ReportKind.MONTHLY: _("Monthly assessment"),
    ReportKind.QUARTERLY: _("Quarterly ranking"),
    ReportKind.HALF: _("Half-year summary"),
    ReportKind.YEAR: _("Year-end summary"),
}


def period_name(tr: Translator, period: Period) -> str:
    """The period as people say it: 2026年第47周（11月16日—11月22日）, 2026年11月..."""
    start, last = period.start, period.last_day
    match period.kind:
        case PeriodKind.WEEK:
            iso = start.isocalendar()
            return tr.plain(
                "Week {week}, {year} ({start} – {end})",
                week=iso.week,
                year=iso.year,
                start=day_name(tr, start.month, start.day),
                end=day_name(tr, last.month, last.day),
            )
        case PeriodKind.MONTH:
            return tr.plain(
                "{month_name} {year}", month_name=month_name(tr, start.month), year=start.year
            )
        case PeriodKind.QUARTER:
            return tr.plain(
                "Q{quarter} {year}", quarter=(start.month - 1) // 3 + 1, year=start.year
            )
        case PeriodKind.HALF:
            if start.month == 1:
                return tr.plain("First half of {year}", year=start.year)
            return tr.plain("Second half of {year}", year=start.year)
    return tr.plain("Year {year}", year=start.year)


MONTHS = (
    _("January"),
    _("February"),
    _("March"),
    _("April"),
    _("May"),
    _("June"),
    _("July"),
    _("August"),
    _("September"),
    _("October"),
    _("November"),
    _("December"),
)


def month_name(tr: Translator, month: int) -> str:
    name = MONTHS[month - 1]
    return tr.plain(name)


def day_name(tr: Translator, month: int, day: int) -> str:
    # "Feb 23"; "2月" is already short: "2月23日".
    return tr.plain("{month_name} {day}", month_name=month_name(tr, month)[:3], day=day)


def bar(pct: float) -> str:
    """A text progress bar: ▓▓▓░░░░░░░ for 30%."""
    filled = max(0, min(BAR_CELLS, round(pct / 100 * BAR_CELLS)))
    return "▓" * filled + "░" * (BAR_CELLS - filled)


def progress_lines(tr: Translator, plant: PlantFigures) -> list[str]:
    """The plant against both targets, with bars, and the share of the year gone."""
    return [
        tr._(
            "Saved so far: <b>{saved}</b> of {target} ({pct}%)",
            saved=money(tr, plant.saved_to_date),
            target=money(tr, plant.total_target),
            pct=plant.total_pct,
        ),
        bar(plant.total_pct),
        tr._(
            "Per head: <b>{per_head}</b> of {target} ({pct}%)",
            per_head=money(tr, plant.per_head_to_date),
            target=money(tr, plant.per_head_target),
            pct=plant.per_head_pct,
        ),
        bar(plant.per_head_pct),
        tr._("Time gone: {pct}% of the campaign year", pct=plant.elapsed_pct),
    ]


def _unit_line(tr: Translator, rank: int, unit: UnitFigures, report: Report) -> str:
    return tr._(
        "{rank}. {unit}: {per_head}/head, {pct}% of target, pace {pace}%",
        rank=rank,
        unit=unit.name,
        per_head=money(tr, unit.per_head_to_date),
        pct=_target_pct(unit, report),
        pace=report.pace(unit),
    )


def _target_pct(unit: UnitFigures, report: Report) -> float:
    target = report.campaign.per_head_target
    return round(float(unit.per_head_to_date / target * 100), 1) if target > 0 else 0.0


def unit_ranking(tr: Translator, report: Report) -> list[str]:
    ranked = sorted(report.units, key=lambda u: (-u.per_head_to_date, u.name))
    lines = [tr._("<b>Units by savings per head</b>")]
    lines += [_unit_line(tr, i, u, report) for i, u in enumerate(ranked[:RANKED_UNITS], 1)]
    if len(ranked) > RANKED_UNITS:
        lines.append(tr._("… and {n} more units", n=len(ranked) - RANKED_UNITS))
    if not ranked:
        lines.append(tr._("No units yet."))
    return lines


def gold_lines(tr: Translator, report: Report, heading: str) -> list[str]:
    if not report.gold:
        return []
    lines = [tr._(heading)]
    lines += [
        tr._(
            "⭐ {number} {title} ({unit}, {authors}): {saved}",
            number=g.number,
            title=g.title,
            unit=g.unit,
            authors=g.authors,
            saved=money(tr, g.saved),
        )
        for g in report.gold
    ]
    return lines


def worker_lines(tr: Translator, workers: list[WorkerFigures]) -> list[str]:
    return [
        tr._(
            "{rank}. {name} ({unit}): {saved}",
            rank=i,
            name=w.name,
            unit=w.unit,
            saved=money(tr, w.saved),
        )
        for i, w in enumerate(workers, 1)
    ]


def standing_lines(tr: Translator, standing: Standing) -> list[str]:
    """A member's rank in their unit and in the plant."""
    lines = []
    if standing.unit_size:
        lines.append(
            tr._(
                "Rank in my unit: {rank} of {size}",
                rank=standing.unit_rank,
                size=standing.unit_size,
            )
        )
    lines.append(
        tr._(
            "Rank in the plant: {rank} of {size}",
            rank=standing.plant_rank,
            size=standing.plant_size,
        )
    )
    return lines


def _activity(tr: Translator, report: Report) -> str:
    plant = report.plant
    return tr._(
        "New ideas: <b>{submitted}</b> · approved: <b>{approved}</b> · certified savings: "
        "<b>{saved}</b>",
        submitted=plant.submitted,
        approved=plant.approved,
        saved=money(tr, plant.saved),
    )


def weekly(tr: Translator, report: Report) -> list[str]:
    lines = [_activity(tr, report), "", *progress_lines(tr, report.plant), ""]
    lines += unit_ranking(tr, report)
    gold = gold_lines(tr, report, _("<b>This week's gold ideas</b>"))
    if gold:
        lines += ["", *gold]
    lines.append("")
    if report.overdue:
        lines.append(
            tr.n_(
                "⏰ {n} item is overdue: reviewers, please decide.",
                "⏰ {n} items are overdue: reviewers, please decide.",
                report.overdue,
            )
        )
    else:
        lines.append(tr._("✅ Nothing is overdue."))
    return lines


def monthly(tr: Translator, report: Report) -> list[str]:
    lines = [
        _activity(tr, report),
        "",
        tr._(
            "Score of 100: savings per head against this month's target of {target}, "
            "participation, approval rate, and open waste reports.",
            target=money(tr, report.period_target.quantize(Decimal("0.01"))),
        ),
        "",
    ]
    for rank, s in enumerate(report.scores, 1):
        medal = MEDALS[rank - 1] if rank <= len(MEDALS) else f"{rank}."
        lines.append(
            tr._(
                "{medal} {unit}: <b>{total}</b> (savings {savings} · participation "
                "{participation} · approval {approval} · waste {waste})",
                medal=medal,
                unit=s.unit.name,
                total=s.total,
                savings=s.savings,
                participation=s.participation,
                approval=s.approval,
                waste=s.waste,
            )
        )
    if not report.scores:
        lines.append(tr._("No units yet."))
    lines += ["", *progress_lines(tr, report.plant)]
    return lines


def summary(tr: Translator, report: Report) -> list[str]:
    lines = [_activity(tr, report), "", *progress_lines(tr, report.plant), ""]
    best = sorted((u for u in report.units if u.saved > 0), key=lambda u: (-u.per_head, u.name))[:3]
    lines.append(tr._("<b>Commended units</b>"))
    lines += [
        tr._(
            "{medal} {unit}: {per_head}/head, {saved} in all",
            medal=MEDALS[i],
            unit=u.name,
            per_head=money(tr, u.per_head),
            saved=money(tr, u.saved),
        )
        for i, u in enumerate(best)
    ] or [tr._("No savings certified in this period.")]
    if report.workers:
        lines += ["", tr._("<b>Savings champions</b>"), *worker_lines(tr, report.workers)]
    gold = gold_lines(tr, report, _("<b>Gold ideas</b>"))
    if gold:
        lines += ["", *gold]
    if report.groups:
        lines += ["", tr._("<b>By group</b>")]
        lines += [
            tr._(
                "{group}: {members} people, {participants} took part, {saved}",
                group=group_name(tr, g.group),
                members=g.members,
                participants=g.participants,
                saved=money(tr, g.saved),
            )
            for g in report.groups
        ]
    if report.categories:
        lines += ["", tr._("<b>By category</b>")]
        lines += [
            tr._(
                "{category}: {submitted} submitted, {approved} approved, {saved}",
                category=c.name_zh if tr.lang == "zh" else c.name_en,
                submitted=c.submitted,
                approved=c.approved,
                saved=money(tr, c.saved),
            )
            for c in report.categories
        ]
    lines += ["", *unit_ranking(tr, report)]
    return lines


BODIES = {
    ReportKind.WEEKLY: weekly,
    ReportKind.MONTHLY: monthly,
    ReportKind.QUARTERLY: summary,
    ReportKind.HALF: summary,
    ReportKind.YEAR: summary,
}


def text(tr: Translator, report: Report) -> str:
    title = TITLES[report.kind]
    head = tr._(title, period=period_name(tr, report.period))
    return "\n".join([head, "", *BODIES[report.kind](tr, report)])


def split(message: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Parts of at most `limit` characters, cut at line ends (a longer line is cut hard)."""
    parts: list[str] = []
    current = ""
    for line in message.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        parts.append(current)
    return parts


@dataclass(frozen=True)
class Post:
    """A report ready to send: its text parts and its chart."""

    parts: list[str]
    chart: bytes
    caption: str


def post(tr: Translator, report: Report) -> Post:
    plant = report.plant
    due = (plant.per_head_target * Decimal(repr(plant.elapsed))).quantize(Decimal("1"))
    title = tr.plain(
        "{kind} · {period}",
        kind=tr.plain(KIND_NAMES[report.kind]),
        period=period_name(tr, report.period),
    )
    chart = units_chart(
        [u for u in report.units if not u.archived],
        per_head_target=plant.per_head_target,
        due_per_head=due,
        title=title,
        tr=tr,
    )
    return Post(split(text(tr, report)), chart, tr._("{title}", title=title))
