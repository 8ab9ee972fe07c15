"""Administration from chat: units, invite links, roles, campaign, announcement chats, import,
and the table of every privileged action refused to everyone below an admin."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import Workbook

from bot.services import campaigns, people, units
from bot.services.errors import ServiceError
from tests.conftest import ADMIN_TG_ID, BotHarness
from tests.fakeapi.users import FakeUser
from tests.helpers import NOW, admin_events, member_by_tg, seed_member, seed_unit, snapshot


async def _admin(harness: BotHarness, lang: str = "en") -> FakeUser:
    admin = harness.user(user_id=ADMIN_TG_ID, first_name="Office", language_code=lang)
    await admin.start()
    return admin


async def test_admin_sets_up_a_unit_from_chat(harness: BotHarness) -> None:
    admin = await _admin(harness)
    assert "⚙️ Administration" in [b for row in admin.last.reply_keyboard for b in row]
    [panel] = await admin.send("⚙️ Administration")
    await admin.press(panel, "🏭 Units")
    await admin.press(panel, "➕ New unit")
    assert "name and headcount" in admin.last.text
    replies = await admin.send("一车间 120")
    view = replies[-1]
    assert "一车间" in view.text and "Headcount: 120" in view.text
    await admin.press(view, "✏️ Rename")
    replies = await admin.send("一车间（冶炼）")
    view = replies[-1]
    await admin.press(view, "🔢 Headcount")
    replies = await admin.send("abc")
    assert replies.texts == ["Please send the headcount as a whole number, for example 120."]
    replies = await admin.send("150")
    view = replies[-1]
    assert "一车间（冶炼）" in view.text and "Headcount: 150" in view.text
    replies = await admin.press(view, "🔗 New invite link")
    assert "https://t.me/savings_test_bot?start=" in replies.edited[0].text
    [unit] = await units.list_units(harness.db)
    invite = await units.active_invite(harness.db, unit.id)
    assert invite is not None and invite.code in replies.edited[0].text
    await admin.press(view, "🚫 Revoke link")
    assert await units.active_invite(harness.db, unit.id) is None
    await admin.press(view, "🗄 Archive")
    assert (await units.list_units(harness.db)) == []
    actions = [e.action for e in await admin_events(harness.db)]
    for action in (
        "unit.create",
        "unit.rename",
        "unit.headcount",
        "invite.create",
        "invite.revoke",
        "unit.archive",
    ):
        assert action in actions


async def test_duplicate_unit_name_is_refused(harness: BotHarness) -> None:
    await seed_unit(harness.db, "一车间")
    admin = await _admin(harness, "zh-hans")
    [panel] = await admin.command("admin")
    await admin.press(panel, "🏭 单位")
    await admin.press(panel, "➕ 新建单位")
    before = await snapshot(harness.db)
    replies = await admin.send("一车间 30")
    assert replies.texts == ["已有名为 一车间 的单位，请换一个名称。"]
    assert await snapshot(harness.db) == before


async def test_roles_are_granted_and_revoked_by_picking_a_member(harness: BotHarness) -> None:
    unit = await seed_unit(harness.db)
    worker = await seed_member(harness.db, 555, unit.id, "赵六")
    admin = await _admin(harness)
    [panel] = await admin.command("admin")
    await admin.press(panel, "👥 Members")
    replies = await admin.send("赵")
    results = replies[-1]
    assert results.button_texts[0] == "赵六"
    await admin.press(results, "赵六")
    await admin.press(results, "➕ Committee")
    await admin.press(results, "⚖️ Assessor of units…")
    await admin.press(results, "一车间")
    access = await people.access_of(harness.db, await people.get(harness.db, worker.id))
    assert access.is_committee and access.assessor_units == {unit.id}
    await admin.press(results, "✅ 一车间")  # toggles off
    access = await people.access_of(harness.db, await people.get(harness.db, worker.id))
    assert access.assessor_units == frozenset()
    await admin.press(results, "« Back")


async def test_member_search_pages(harness: BotHarness) -> None:
    unit = await seed_unit(harness.db)
    for n in range(11):
        await seed_member(harness.db, 800 + n, unit.id, f"孙{n:02d}")
    admin = await _admin(harness)
    [panel] = await admin.command("admin")
    await admin.press(panel, "👥 Members")
    replies = await admin.send("孙")
    results = replies[-1]
    assert results.text == "Members: 11"
    assert results.button_texts[:8] == [f"孙{n:02d}" for n in range(8)]
    assert "1/2" in results.button_texts
    replies = await admin.press(results, "▶")
    assert replies.edited[0].button_texts[:3] == ["孙08", "孙09", "孙10"]


async def test_deactivated_member_keeps_records_but_loses_roles(harness: BotHarness) -> None:
    unit = await seed_unit(harness.db)
    worker = await seed_member(harness.db, 556, unit.id, "钱七")
    await people.set_role(harness.db, worker.id, worker.id, "committee", True, NOW)
    await _admin(harness)
    admin_member = await member_by_tg(harness.db, ADMIN_TG_ID)
    assert admin_member is not None
    await people.set_active(harness.db, admin_member.id, worker.id, False, NOW)
    member = await people.get(harness.db, worker.id)
    assert member is not None and member.status == "inactive" and not member.is_committee
    user = harness.user(user_id=556, language_code="en")
    replies = await user.start()
    assert replies.texts == ["Your membership was deactivated. Please contact the campaign office."]


async def test_campaign_targets_and_dates_from_chat(harness: BotHarness) -> None:
    admin = await _admin(harness)
    [panel] = await admin.command("admin")
    replies = await admin.press(panel, "📋 Campaign")
    view = replies.edited[0]
    assert "Target per head: 1,000.00 yuan" in view.text
    await admin.press(view, "🎯 Per head")
    replies = await admin.send("1.2k")
    assert "Target per head: 1,200.00 yuan" in replies[-1].text
    view = replies[-1]
    await admin.press(view, "📅 End date")
    before = await snapshot(harness.db)
    replies = await admin.send("2025-01-01")
    assert replies.texts == ["The campaign cannot end before it starts. Please send another date."]
    replies = await admin.send("tomorrow")
    assert replies.texts == ["Please send the date as 2026-01-31."]
    assert await snapshot(harness.db) == before
    await admin.send("2026-11-30")
    campaign = await campaigns.get_current(harness.db)
    assert campaign is not None
    assert campaign.per_head_target == Decimal("1200.00")
    assert campaign.ends_on.isoformat() == "2026-11-30"
    view = admin.inbox[-1]
    await admin.press(view, "🏷 Categories")
    view = admin.inbox[-1]
    assert "Technical innovation" in view.button_texts
    await admin.press(view, "➕ New category")
    await admin.send("安全节能 / Safe saving")
    names = [c.name_zh for c in await campaigns.categories(harness.db, campaign.id)]
    assert names[-1] == "安全节能" and len(names) == 8


async def test_announce_here_registers_the_group(harness: BotHarness) -> None:
    admin = await _admin(harness, "zh-hans")
    group = harness.group("节约通报群", bot_status="member")
    replies = await admin.command_in(group, "announce_here")
    assert replies.texts == ["本群将接收节约活动通报。"]
    replies = await admin.command_in(group, "announce_here")
    assert replies.texts == ["本群已在接收节约活动通报。"]
    from bot.services import announcements

    [chat] = await announcements.active_chats(harness.db)
    assert chat.chat_id == group.id and chat.title == "节约通报群"


def _xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def test_import_a_good_workbook(harness: BotHarness) -> None:
    admin = await _admin(harness)
    [panel] = await admin.command("admin")
    await admin.press(panel, "📥 Import")
    data = _xlsx(
        {
            "单位": [["名称", "人数"], ["一车间", 120], ["二车间", 80]],
            "职工": [
                ["姓名", "单位", "政治面貌", "用户名"],
                ["张三", "一车间", "党员", "@zhangsan"],
                ["李四", "二车间", "群众", None],
                ["王五", "二车间", "团员", "wangwu"],
            ],
        }
    )
    replies = await admin.send_document("plant.xlsx", content=data)
    assert replies.texts == ["Imported: 2 new units, 0 updated; 3 new members, 0 updated."]
    assert [u.name for u in await units.list_units(harness.db)] == ["一车间", "二车间"]
    _found, total = await people.search(harness.db, "", 0, 10)
    assert total == 4  # three imported and the admin


async def test_import_with_two_bad_rows_imports_nothing(harness: BotHarness) -> None:
    await seed_unit(harness.db, "一车间")
    admin = await _admin(harness, "zh-hans")
    [panel] = await admin.command("admin")
    await admin.press(panel, "📥 导入")
    before = await snapshot(harness.db)
    csv_text = (
        "姓名,单位,政治面貌\n"
        "张三,一车间,党员\n"
        "李四,不存在车间,群众\n"
        "王五,一车间,神仙\n"
        "赵六,一车间,团员\n"
    )
    replies = await admin.send_document("members.csv", content=csv_text.encode())
    [reply] = replies
    assert reply.text.splitlines() == [
        "未导入任何数据。请修改以下各行后重新发送文件：",
        "第 4 行：「神仙」不是有效类别（党员、团员或群众）",
    ]
    assert await snapshot(harness.db) == before
    # Fix the group: the unknown unit on line 3 is reported now.
    replies = await admin.send_document(
        "members.csv", content=csv_text.replace("神仙", "群众").encode()
    )
    assert "第 3 行：未知单位「不存在车间」" in replies[-1].text
    assert await snapshot(harness.db) == before


async def test_import_reports_both_bad_lines(harness: BotHarness) -> None:
    await seed_unit(harness.db, "一车间")
    admin = await _admin(harness)
    [panel] = await admin.command("admin")
    await admin.press(panel, "📥 Import")
    before = await snapshot(harness.db)
    csv_text = "name,headcount\n三车间,40\n,12\n四车间,many\n五车间,9\n"
    [reply] = await admin.send_document("units.csv", content=csv_text.encode())
    assert reply.text.splitlines() == [
        "Nothing was imported. Please fix these rows and send the file again:",
        "Line 3: the name is empty",
        "Line 4: «many» is not a headcount",
    ]
    assert await snapshot(harness.db) == before


# ---- access: every privileged action, by every role below admin and by strangers ----------

PRIVILEGED_COMMANDS = ["admin"]
PRIVILEGED_CALLBACKS = [
    "ad:home",
    "ad:units:0",
    "ad:u:{unit}",
    "ad:u:{unit}:inv",
    "ad:u:{unit}:rev",
    "ad:u:{unit}:arch",
    "ad:u:{unit}:mem:0",
    "ad:m:{member}",
    "ad:m:{member}:role:admin:1",
    "ad:m:{member}:role:committee:1",
    "ad:m:{member}:as:0",
    "ad:m:{member}:ast:{unit}",
    "ad:m:{member}:act:0",
    "ad:pending",
    "ad:camp",
    "ad:cats",
    "ad:cat:1:arch",
    "ad:chats",
    "ad:chat:1:off",
    "ad:newunit",
    "ad:find",
    "ad:imp",
    "ad:u:{unit}:ren",
    "ad:u:{unit}:hc",
    "ad:cf:pht",
    "ad:newcat",
    "jr:{member}:y",
    "jr:{member}:n",
]
ROLES = ["worker", "assessor", "committee", "stranger", "deactivated_admin"]


async def _actor(harness: BotHarness, role: str, unit_id: int) -> FakeUser:
    user = harness.user(user_id=7000 + ROLES.index(role), language_code="en")
    if role == "stranger":
        return user
    member = await seed_member(harness.db, user.id, unit_id, role)
    if role == "assessor":
        await people.set_role(harness.db, member.id, member.id, "assessor", True, NOW, unit_id)
    elif role == "committee":
        await people.set_role(harness.db, member.id, member.id, "committee", True, NOW)
    elif role == "deactivated_admin":
        await people.set_role(harness.db, member.id, member.id, "admin", True, NOW)
        await people.set_active(harness.db, None, member.id, False, NOW)  # type: ignore[arg-type]
    return user


@pytest.mark.parametrize("role", ROLES)
async def test_privileged_actions_are_refused_below_admin(harness: BotHarness, role: str) -> None:
    unit = await seed_unit(harness.db)
    target = await seed_member(harness.db, 4242_1, unit.id, "Target")
    pending = await people.join(
        harness.db,
        telegram_id=4242_2,
        username=None,
        name="Pending",
        unit_id=unit.id,
        group="staff",
        language="en",
        pending=True,
        now=NOW,
    )
    await units.create_invite(harness.db, target.id, unit.id, NOW)
    actor = await _actor(harness, role, unit.id)
    admin = await _admin(harness)
    [panel] = await admin.command("admin")  # a real message to press buttons on
    group = harness.group("Workshop group")
    before = await snapshot(harness.db)
    for command in PRIVILEGED_COMMANDS:
        replies = await actor.command(command)
        assert replies.texts[-1] == "Sorry, you are not allowed to do that.", (role, command)
    for template in PRIVILEGED_CALLBACKS:
        data = template.format(unit=unit.id, member=pending.id if "jr" in template else target.id)
        await actor.press_raw(panel, data)
        answer = actor.answers[-1]
        assert answer.text == "Sorry, you are not allowed to do that.", (role, data)
        assert answer.show_alert
    replies = await actor.command_in(group, "announce_here")
    assert replies.texts == ["Sorry, you are not allowed to do that."]
    # A document sent out of turn is not an import.
    await actor.send_document("units.csv", content=b"name,headcount\nX,1\n")
    assert await snapshot(harness.db) == before


async def test_unregistered_group_member_cannot_announce(harness: BotHarness) -> None:
    group = harness.group("Random group")
    passer_by = harness.user(language_code="zh-hans", started=False)
    before = await snapshot(harness.db)
    replies = await passer_by.command_in(group, "announce_here")
    assert replies.texts == ["抱歉，您没有执行此操作的权限。"]
    assert await snapshot(harness.db) == before


async def test_two_categories_added_in_the_same_second(harness: BotHarness) -> None:
    campaign = await campaigns.ensure_default(harness.db, NOW.date())
    await campaigns.add_category(harness.db, None, campaign.id, "甲", "A", NOW)  # type: ignore[arg-type]
    await campaigns.add_category(harness.db, None, campaign.id, "乙", "B", NOW)  # type: ignore[arg-type]
    names = [c.name_zh for c in await campaigns.categories(harness.db, campaign.id)]
    assert names[-2:] == ["甲", "乙"]


async def test_admin_with_a_long_telegram_name_becomes_a_member(harness: BotHarness) -> None:
    admin = harness.user(user_id=ADMIN_TG_ID, first_name="A" * 60, language_code="en")
    await admin.start()
    member = await member_by_tg(harness.db, ADMIN_TG_ID)
    assert member is not None and member.is_admin and member.name == "A" * 40


@pytest.mark.parametrize("taken", ["Ä车间", "ä车间", "ÄÜ.P"])
async def test_a_unit_name_taken_in_any_case_is_refused(harness: BotHarness, taken: str) -> None:
    """SQLite's lower() folds ASCII only: the names are compared by the bot (fuzzing found an
    exact non-ASCII duplicate that reached the unique constraint)."""
    await seed_unit(harness.db, "Ä车间")
    await seed_unit(harness.db, "ÄÜ.P")
    before = await snapshot(harness.db)
    with pytest.raises(ServiceError) as refused:
        await units.create_unit(harness.db, None, taken, 10, NOW)  # type: ignore[arg-type]
    assert refused.value.code == "unit_exists"
    assert await snapshot(harness.db) == before
