"""Joining: by invite link, by picking a unit, bad and revoked codes, twice, with approval."""

from __future__ import annotations

import pytest

from bot.services import units
from storage.models import MemberStatus
from tests.conftest import ADMIN_TG_ID, BotHarness, make_settings, start_app, stop_app
from tests.fakeapi.core import FakeTelegram
from tests.helpers import NOW, admin_events, member_by_tg, seed_unit, snapshot

LANGS = [("zh-hans", "zh"), ("en", "en")]
TEXT = {
    "zh": {
        "use": "使用「{}」",
        "party": "党员",
        "done": "注册成功",
        "menu_help": "❓ 帮助",
        "menu_idea": "💡 提建议",
        "bad_code": "邀请链接无效",
        "registered": "您已经注册过了",
        "welcome": "欢迎",
    },
    "en": {
        "use": "Use «{}»",
        "party": "Party member",
        "done": "You are registered",
        "menu_help": "❓ Help",
        "menu_idea": "💡 Submit an idea",
        "bad_code": "invite link is unknown",
        "welcome": "Welcome",
    },
}


@pytest.mark.parametrize(("code", "lang"), LANGS)
async def test_join_by_invite_link_in_two_taps(harness: BotHarness, code: str, lang: str) -> None:
    unit = await seed_unit(harness.db, "二车间", 80)
    invite = await units.create_invite(harness.db, None, unit.id, NOW)  # type: ignore[arg-type]
    worker = harness.user(first_name="Li", last_name="Lei", language_code=code)
    replies = await worker.start(invite.code)
    assert "二车间" in replies.texts[1]
    ask_name = replies[-1]
    await worker.press(ask_name, TEXT[lang]["use"].format("Li Lei"))  # tap 1
    ask_group = worker.last
    replies = await worker.press(ask_group, TEXT[lang]["party"])  # tap 2
    assert TEXT[lang]["done"] in replies.texts[-1]
    menu = [label for row in replies[-1].reply_keyboard for label in row]
    assert TEXT[lang]["menu_help"] in menu and TEXT[lang]["menu_idea"] == menu[0]
    member = await member_by_tg(harness.db, worker.id)
    assert member is not None
    assert (member.name, member.unit_id, member.group, member.status, member.language) == (
        "Li Lei",
        unit.id,
        "party",
        MemberStatus.ACTIVE,
        lang,
    )


@pytest.mark.parametrize(("code", "lang"), LANGS)
async def test_join_by_picking_a_unit_with_a_typed_name(
    harness: BotHarness, code: str, lang: str
) -> None:
    await seed_unit(harness.db, "一车间")
    await seed_unit(harness.db, "机修车间")
    worker = harness.user(first_name="W", language_code=code)
    replies = await worker.start()
    pick = replies[-1]
    assert pick.button_texts == ["一车间", "机修车间"]
    await worker.press(pick, "机修车间")  # tap 1
    await worker.send("<b>王五</b>")  # typed name, HTML must come back escaped
    replies = await worker.press(worker.last, TEXT[lang]["party"])  # tap 2
    assert TEXT[lang]["done"] in replies.texts[-1]
    assert "&lt;b&gt;王五&lt;/b&gt;" in replies[-1].html
    member = await member_by_tg(harness.db, worker.id)
    assert member is not None and member.name == "<b>王五</b>"


async def test_a_forged_group_leaves_the_group_question_open(harness: BotHarness) -> None:
    await seed_unit(harness.db, "一车间")
    worker = harness.user(first_name="W", language_code="zh-hans")
    await worker.start()
    await worker.press(worker.last, "一车间")
    await worker.send("王五")
    question = worker.last
    before = await snapshot(harness.db)
    await worker.press_raw(question, "join:group:" + "9" * 80)
    assert worker.answers[-1].text == "此按钮已失效。"
    assert await snapshot(harness.db) == before
    replies = await worker.press(question, TEXT["zh"]["party"])  # the real button still works
    assert TEXT["zh"]["done"] in replies.texts[-1]
    member = await member_by_tg(harness.db, worker.id)
    assert member is not None and member.name == "王五"


@pytest.mark.parametrize(("code", "lang"), LANGS)
async def test_unknown_and_revoked_codes_are_refused(
    harness: BotHarness, code: str, lang: str
) -> None:
    unit = await seed_unit(harness.db)
    invite = await units.create_invite(harness.db, None, unit.id, NOW)  # type: ignore[arg-type]
    await units.revoke_invites(harness.db, None, unit.id, NOW)  # type: ignore[arg-type]
    before = await snapshot(harness.db)
    for bad in ("nonsense", invite.code):
        worker = harness.user(language_code=code)
        replies = await worker.start(bad)
        assert any(TEXT[lang]["bad_code"] in t for t in replies.texts)
        assert replies[-1].button_texts == ["一车间"]  # offered the unit list instead
    assert await snapshot(harness.db) == before


async def test_a_new_link_revokes_the_old_one(harness: BotHarness) -> None:
    unit = await seed_unit(harness.db)
    first = await units.create_invite(harness.db, None, unit.id, NOW)  # type: ignore[arg-type]
    second = await units.create_invite(harness.db, None, unit.id, NOW)  # type: ignore[arg-type]
    assert await units.unit_for_code(harness.db, first.code) is None
    found = await units.unit_for_code(harness.db, second.code)
    assert found is not None and found.id == unit.id


@pytest.mark.parametrize(("code", "lang"), LANGS)
async def test_start_twice_shows_the_menu_and_registers_once(
    harness: BotHarness, code: str, lang: str
) -> None:
    await seed_unit(harness.db)
    worker = harness.user(first_name="Zhao", language_code=code)
    await worker.start()
    await worker.press(worker.last, "一车间")
    await worker.press(worker.last, TEXT[lang]["use"].format("Zhao"))
    await worker.press(worker.last, TEXT[lang]["party"])
    before = await snapshot(harness.db)
    replies = await worker.start()
    assert TEXT[lang]["welcome"] in replies.texts[-1]
    assert replies[-1].reply_keyboard
    assert await snapshot(harness.db) == before


async def test_cancel_during_joining_saves_nothing(harness: BotHarness) -> None:
    await seed_unit(harness.db)
    worker = harness.user(language_code="en")
    before = await snapshot(harness.db)
    await worker.start()
    await worker.press(worker.last, "一车间")
    replies = await worker.command("cancel")
    assert replies.texts == ["Registration cancelled. Send /start to begin again."]
    assert await snapshot(harness.db) == before


async def test_typed_name_too_long_is_asked_again(harness: BotHarness) -> None:
    await seed_unit(harness.db)
    worker = harness.user(language_code="en")
    await worker.start()
    await worker.press(worker.last, "一车间")
    replies = await worker.send("x" * 41)
    assert replies.texts == ["That is too long: at most 40 characters. Please send it again."]
    replies = await worker.send("Xu")
    assert "Which group" in replies.texts[-1]


@pytest.mark.parametrize(("code", "lang"), LANGS)
async def test_join_with_office_approval(db_url: str, code: str, lang: str) -> None:
    telegram = FakeTelegram()
    app = await start_app(make_settings(db_url, join_requires_approval=True), telegram)
    harness = BotHarness(app, telegram)
    try:
        admin = harness.user(user_id=ADMIN_TG_ID, language_code="en")
        await admin.command("help")  # the admin has talked to the bot once
        unit = await seed_unit(harness.db)
        worker = harness.user(first_name="Qian", language_code=code)
        await worker.start()
        await worker.press(worker.last, "一车间")
        await worker.press(worker.last, TEXT[lang]["use"].format("Qian"))
        replies = await worker.press(worker.last, TEXT[lang]["party"])
        assert (
            "确认您的注册" if lang == "zh" else "will confirm your registration"
        ) in replies.texts[-1]
        member = await member_by_tg(harness.db, worker.id)
        assert member is not None and member.status == MemberStatus.PENDING
        # A pending member is not let in.
        replies = await worker.start()
        assert ("等待" if lang == "zh" else "waiting") in replies.texts[-1]
        request = admin.last
        assert "New member waiting for approval: Qian, 一车间." == request.text
        await admin.press(request, "✅ Approve")
        assert admin.last.text == "Qian: approved."
        assert ("已获批准" if lang == "zh" else "was approved") in worker.last.text
        member = await member_by_tg(harness.db, worker.id)
        assert member is not None and member.status == MemberStatus.ACTIVE
        # The second press on a decided request changes nothing and is answered.
        before = await snapshot(harness.db)
        await admin.press_raw(request, f"jr:{member.id}:n")
        assert admin.answers[-1].text == "This was already decided."
        assert await snapshot(harness.db) == before
        # An invite link skips the approval even with the setting on.
        invite = await units.create_invite(harness.db, None, unit.id, NOW)  # type: ignore[arg-type]
        other = harness.user(first_name="Sun", language_code=code)
        await other.start(invite.code)
        await other.press(other.last, TEXT[lang]["use"].format("Sun"))
        await other.press(other.last, TEXT[lang]["party"])
        joined = await member_by_tg(harness.db, other.id)
        assert joined is not None and joined.status == MemberStatus.ACTIVE
        actions = [e.action for e in await admin_events(harness.db)]
        assert "member.approve" in actions and actions.count("member.join") == 2
    finally:
        await stop_app(app)
    assert telegram.violations == []
    assert harness.errors == []


async def test_declined_applicant_is_told(db_url: str) -> None:
    telegram = FakeTelegram()
    app = await start_app(make_settings(db_url, join_requires_approval=True), telegram)
    harness = BotHarness(app, telegram)
    try:
        admin = harness.user(user_id=ADMIN_TG_ID, language_code="zh-hans")
        await admin.command("help")
        await seed_unit(harness.db)
        worker = harness.user(first_name="Zhou", language_code="en")
        await worker.start()
        await worker.press(worker.last, "一车间")
        await worker.press(worker.last, "Use «Zhou»")
        await worker.press(worker.last, "Other staff")
        await admin.press(admin.last, "❌ 拒绝")
        assert admin.last.text == "Zhou：已拒绝。"
        assert worker.last.text == (
            "Your registration was declined. Please contact the campaign office."
        )
        member = await member_by_tg(harness.db, worker.id)
        assert member is not None and member.status == MemberStatus.DECLINED
    finally:
        await stop_app(app)
    assert telegram.violations == [] and harness.errors == []


async def test_imported_member_claims_their_record(harness: BotHarness) -> None:
    from bot.services import importer

    await importer.import_file(
        harness.db,
        None,
        "m.csv",  # type: ignore[arg-type]
        "name,headcount\n三车间,50\n".encode(),
        NOW,
    )
    result = await importer.import_file(
        harness.db,
        None,
        "m.csv",  # type: ignore[arg-type]
        "姓名,单位,政治面貌,用户名\n刘洋,三车间,团员,@liuyang\n".encode(),
        NOW,
    )
    assert result.ok and result.members_created == 1
    worker = harness.user(first_name="Yang", username="LiuYang", language_code="en")
    replies = await worker.start()
    assert "registered 刘洋 of 三车间" in replies.texts[-1]
    await worker.press(replies[-1], "Yes, that is me")
    member = await member_by_tg(harness.db, worker.id)
    assert member is not None and (member.name, member.group) == ("刘洋", "league")


async def test_a_roster_row_updates_the_member_it_names(db_url: str) -> None:
    """A row is the member with its username (in any case, letters beyond ASCII too), else
    the first member not yet joined with its name in its unit, whatever their status, members
    made or changed by earlier rows of the file as they are then; a member who has joined is
    never taken by name."""
    from sqlalchemy import select

    from bot.services import importer
    from storage.db import Database
    from storage.models import Member, MemberGroup
    from tests.helpers import seed_member

    db = Database(db_url)
    try:
        first, second = await seed_unit(db, "一车间"), await seed_unit(db, "二车间")
        joined = await seed_member(db, 501, first.id, "张三")
        async with db.write() as session:
            (await session.get(Member, joined.id)).username = "ZhangSan"  # type: ignore[union-attr]
        await importer.import_file(
            db,
            None,
            "m.csv",
            "姓名,单位,政治面貌\n李四,一车间,群众\n".encode(),
            NOW,  # type: ignore[arg-type]
        )
        # Added by hand, none joined: a second 李四 of the same unit, after the first; a
        # member no longer active; a username that has a case beyond ASCII; one to be changed.
        async with db.write() as session:
            for name, username, status in (
                ("李四", None, MemberStatus.ACTIVE),
                ("赵六", None, MemberStatus.INACTIVE),
                ("钱七", "Élan", MemberStatus.ACTIVE),
                ("孙八", "old8", MemberStatus.ACTIVE),
            ):
                session.add(
                    Member(
                        name=name,
                        username=username,
                        unit_id=first.id,
                        status=status,
                        created_at=NOW,
                    )
                )
        roster = (
            "姓名,单位,政治面貌,用户名\n"
            "张三,二车间,党员,@zhangsan\n"  # the joined member, by username: moves
            "李四,一车间,团员,\n"  # the first 李四
            "王五,一车间,群众,\n"  # new
            "王五,一车间,党员,@wangwu\n"  # the 王五 of the row above, now with a username
            "张三,一车间,群众,\n"  # not the joined 张三 (by name): new
            "赵六,一车间,团员,\n"  # by name, whatever the status
            "钱七,二车间,群众,@élan\n"  # by username in any case: moves
            "孙八,一车间,党员,@new8\n"  # by name (nobody has new8): takes the new username
            "周九,一车间,群众,@old8\n"  # old8 is nobody's any more: new
        )
        result = await importer.import_file(db, None, "m.csv", roster.encode(), NOW)  # type: ignore[arg-type]
        assert result.ok, result.errors
        assert (result.members_created, result.members_updated) == (3, 6)
        async with db.read() as session:
            found = await session.execute(
                select(
                    Member.name,
                    Member.unit_id,
                    Member.group,
                    Member.username,
                    Member.telegram_id,
                    Member.status,
                )
                .where(Member.name.in_(["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九"]))
                .order_by(Member.id)
            )
            rows = [tuple(row) for row in found]
        active, inactive = MemberStatus.ACTIVE, MemberStatus.INACTIVE
        assert rows == [
            ("张三", second.id, MemberGroup.PARTY, "zhangsan", 501, active),
            ("李四", first.id, MemberGroup.LEAGUE, None, None, active),
            ("李四", first.id, MemberGroup.STAFF, None, None, active),
            ("赵六", first.id, MemberGroup.LEAGUE, None, None, inactive),
            ("钱七", second.id, MemberGroup.STAFF, "élan", None, active),
            ("孙八", first.id, MemberGroup.PARTY, "new8", None, active),
            ("王五", first.id, MemberGroup.PARTY, "wangwu", None, active),
            ("张三", first.id, MemberGroup.STAFF, None, None, active),
            ("周九", first.id, MemberGroup.STAFF, "old8", None, active),
        ]
    finally:
        await db.dispose()
