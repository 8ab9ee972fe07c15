"""A deterministic, realistic campaign dataset written straight into the database.

Used by the offline demo (`savings-bot demo`) and by benchmarks at a larger scale: units,
workers and their roles, ideas and waste reports with their whole review history (the same
actions, statuses and amounts the real services write), registration numbers and counters.

Rows go in with Core bulk inserts in chunks; ids of units, members and items are allocated
here (the database must be empty), so nothing is read back. The same shape, `today` and time
zone always give the same rows.
"""

from __future__ import annotations

import heapq
import math
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import campaigns, ledger
from bot.services.review import reward_for
from storage.db import Database
from storage.models import (
    Base,
    Campaign,
    Category,
    Grade,
    Item,
    ItemKind,
    ItemStatus,
    Member,
    MemberGroup,
    MemberStatus,
    Unit,
)


@dataclass(frozen=True)
class Shape:
    units: int
    workers: int
    ideas: int  # ideas submitted
    approved: int  # ideas approved/certified (APPROVED, IMPLEMENTED or VERIFIED)
    certified_total: Decimal | None  # exact sum of certified amounts (None: whatever comes out)
    waste: int  # waste reports
    days: int  # the span of submission dates, ending at `today`
    seed: int = 7


# The real report after ten weeks (DOMAIN.md): 178 declared, 97 certified, 287,600 yuan.
DEMO = Shape(
    units=12,
    workers=600,
    ideas=178,
    approved=97,
    certified_total=Decimal("287600"),
    waste=24,
    days=70,
)


@dataclass(frozen=True)
class Facts:
    """What was generated, for checks."""

    campaign_id: int
    units: int
    workers: int
    ideas: int
    approved: int
    certified_total: Decimal
    counted_total: Decimal  # verified amount where there is one, else certified
    waste: int


# --- tunables ------------------------------------------------------------------------------

CHUNK = 2_500  # items per bulk insert (their authors and events go with them)
MIN_UNIT = 3  # an assessor and two workers at least
TELEGRAM_BASE = 7_000_000_000  # fake Telegram ids: joined members, never real accounts
DAY = 86_400
WORK_START = 8 * 3600 + 30 * 60  # 08:30 local
WORK_END = 17 * 3600 + 30 * 60  # 17:30 local
FIRST_REVIEW_DAYS = 3  # the bot's default limit: older items at first review are overdue


class S:
    """The statuses as plain strings (what the rows hold)."""

    FIRST_REVIEW = ItemStatus.FIRST_REVIEW.value
    COMMITTEE = ItemStatus.COMMITTEE.value
    NEEDS_INFO = ItemStatus.NEEDS_INFO.value
    APPROVED = ItemStatus.APPROVED.value
    IMPLEMENTED = ItemStatus.IMPLEMENTED.value
    VERIFIED = ItemStatus.VERIFIED.value
    REJECTED = ItemStatus.REJECTED.value
    REPORTED = ItemStatus.REPORTED.value
    ACKNOWLEDGED = ItemStatus.ACKNOWLEDGED.value
    FIXED = ItemStatus.FIXED.value
    DISMISSED = ItemStatus.DISMISSED.value


# Idea outcomes, as small codes in the plan.
FR, COM, NI, REJ, APP, IMPL, VER = range(7)
OUTCOME = (S.FIRST_REVIEW, S.COMMITTEE, S.NEEDS_INFO, S.REJECTED, S.APPROVED, S.IMPLEMENTED,
           S.VERIFIED)  # fmt: skip
IDEA, WASTE = ItemKind.IDEA.value, ItemKind.WASTE.value


# --- names ---------------------------------------------------------------------------------

UNIT_NAMES = [
    # the first twelve make the demo plant
    "一车间", "二车间", "三车间", "机修车间", "动力车间", "供应科",
    "质检科", "仓储物流部", "技术科", "生产科", "安全环保科", "综合办公室",
    "四车间", "五车间", "铸造车间", "锻压车间", "热处理车间", "装配车间",
    "电修车间", "喷涂车间", "设备科", "计量中心", "财务科", "人力资源部",
    "销售部", "运输车队", "后勤服务中心", "信息中心", "采购部", "研发中心", "工会",
]  # fmt: skip
BRANCH_UNITS = ["一车间", "二车间", "三车间", "机修车间", "动力车间", "装配车间", "质检站", "仓库"]
OFFICE_UNITS = ("综合办公室", "工会")

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红建国志文斌辉鹏宇浩凯健俊帆帅旭宁"
    "龙林波海峰亮成新飞雪梅琳晶婷玲倩颖慧佳欣丹萍鑫晨阳东春云金荣德福庆生永兵民宏立学忠彬"
)
DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1..99 in Chinese numerals (一, 十, 十一, 二十三)."""
    tens, ones = divmod(n, 10)
    if tens == 0:
        return DIGITS[ones]
    head = "" if tens == 1 else DIGITS[tens]
    return head + "十" + (DIGITS[ones] if ones else "")


def unit_names(count: int) -> list[str]:
    """Unique workshop and department names: the usual ones, then branch plants' units."""
    names = UNIT_NAMES[:count]
    branch = 1
    while len(names) < count:
        prefix = f"{chinese_number(branch)}分厂" if branch < 100 else f"第{branch}分厂"
        names += [prefix + unit for unit in BRANCH_UNITS][: count - len(names)]
        branch += 1
    return names


# --- texts ---------------------------------------------------------------------------------

# Machines and the parts that wear out on them ({equip} and {part} are drawn together).
_MACHINES = [
    ("1号空压机", "进气阀"), ("2号空压机", "油气分离器"), ("循环水泵", "叶轮"),
    ("循环水泵", "机械密封"), ("冷却塔风机", "减速机"), ("除尘风机", "叶轮"),
    ("液压站", "液压油缸"), ("皮带输送机", "托辊"), ("皮带输送机", "滚筒"), ("行车", "车轮"),
    ("行车", "减速机"), ("球磨机", "衬板"), ("真空泵", "转子"), ("注塑机", "螺杆"),
    ("数控车床", "主轴轴承"), ("冲床", "离合器"), ("锅炉给水泵", "机械密封"),
    ("引风机", "轴承"), ("引风机", "联轴器"),
]  # fmt: skip
_POOLS: dict[str, Sequence[str]] = {
    "furnace": ["退火炉", "淬火炉", "加热炉", "烘干炉", "回火炉", "熔化炉", "电阻炉"],
    "spare": ["刀具", "模具", "轴承", "滤芯", "阀门", "电机转子", "托辊", "砂轮", "钻头"],
    "method": ["堆焊", "车削", "刷镀", "喷涂", "重新镶套", "更换易损件"],
    "area": ["厂房", "仓库", "办公楼走廊", "停车场", "泵房", "更衣室", "食堂", "配电室"],
    "lamp": ["金卤灯", "高压钠灯", "荧光灯", "白炽灯"],
    "material": ["钢板", "铜线", "铝材", "塑料粒子", "包装纸箱", "木托盘", "焊丝", "电缆"],
    "sheet": ["钢板", "铝板", "铜板", "橡胶板", "包装纸板", "不锈钢板"],
    "consumable": ["劳保手套", "棉纱", "焊丝", "砂轮片", "切削液", "记号笔", "胶带"],
    "scrap": ["包装纸箱", "木托盘", "焊丝头", "铜屑", "塑料边角料", "旧电缆"],
    "product": ["法兰", "齿轮坯", "铸件", "轴套", "壳体", "支架", "电机端盖"],
    "process": ["下料", "焊接", "热处理", "喷涂", "机加工", "装配", "铸造", "清洗"],
    "param": ["切削速度和进给量", "炉温曲线", "焊接电流", "涂料配比", "保温时间", "装炉量"],
    "spot": [
        "东门", "二号厂房", "泵房", "水房", "材料库", "办公楼三楼", "卫生间", "食堂后厨",
        "配电室", "空压机房", "成品库", "班组休息室",
    ],
}  # fmt: skip
_NUMBERS: dict[str, Callable[[random.Random], str]] = {
    "n": lambda r: str(r.randint(3, 40)),
    "n2": lambda r: str(r.randrange(20, 400, 10)),
    "p": lambda r: str(r.randrange(10, 65, 5)),
    "p2": lambda r: str(r.randint(3, 12)),
    "kwh": lambda r: str(r.randrange(200, 3000, 50)),
    "a": lambda r: f"{r.uniform(4, 12):.1f}",
    "b": lambda r: f"{r.uniform(0.8, 3.5):.1f}",
}


class _Slots(dict[str, str]):
    """Template fields drawn on first use, so a title and its body agree."""

    def __init__(self, rng: random.Random, **fixed: str) -> None:
        super().__init__(fixed)
        self.rng = rng

    def __missing__(self, key: str) -> str:
        if key in ("equip", "part"):
            self["equip"], self["part"] = self.rng.choice(_MACHINES)
            return self[key]
        pool = _POOLS.get(key)
        value = self.rng.choice(pool) if pool is not None else _NUMBERS[key](self.rng)
        self[key] = value
        return value


@dataclass(frozen=True)
class _Template:
    title: str
    body: str
    median: float  # typical yearly saving claimed, in yuan


T = _Template
IDEAS: dict[str, list[_Template]] = {
    "energy": [
        T("{furnace}加热改到夜班，避开峰时电价",
          "{unit}的{furnace}目前在白班升温，正处峰时电价。建议把升温工序调整到夜班谷电时段，"
          "白班只做保温。按每天约{kwh}千瓦时测算，预计每年节约电费{amt}元。", 20000),
        T("{area}照明改用LED灯",
          "{area}现有{n}盏{lamp}，功率大、寿命短。建议更换为LED灯并加装时控开关，下班自动关灯，"
          "预计节电{p}%左右，每年节约{amt}元。", 3000),
        T("治理压缩空气管网泄漏",
          "用检漏仪排查{unit}的压缩空气管网，发现{n}处漏点，主要在快插接头和老化软管。"
          "更换接头并定期巡检后，空压机加载时间可减少约{p}%，每年节电约{amt}元。", 8000),
        T("{equip}加装变频器",
          "{equip}长期工频满负荷运行，实际用量只有额定的一半多。加装变频器按需调速，"
          "预计节电{p}%，每年节约{amt}元。", 12000),
        T("{process}冷却水循环利用",
          "{process}工序的冷却水目前直接排放。建议增加回水池和过滤装置循环使用，"
          "每月少用新水约{n2}吨，每年节约{amt}元。", 5000),
        T("{furnace}炉门密封和保温层改造",
          "{furnace}炉门密封条老化，炉体保温层局部脱落，散热损失大。更换密封条、补做保温后，"
          "炉壁温度明显下降，每年节约电费{amt}元。", 8000),
    ],
    "repair": [
        T("{equip}{part}修复再利用",
          "{equip}换下的{part}经{method}修复后检测合格，可重新装机使用，修复费用约为新件的{p}%。"
          "已修复{n}件，节约{amt}元。", 2000),
        T("旧电机重绕线圈修复",
          "车间报废的{n}台小功率电机，检查后定子铁芯完好，重绕线圈后可作备用电机，"
          "节约购置费{amt}元。", 2500),
        T("废旧{spare}翻新利用",
          "收集报废的{spare}，清洗、{method}后作为备件使用，减少外购{n}件，节约{amt}元。", 1200),
        T("{equip}{part}自行修理，不再外委",
          "{equip}的{part}以前坏了都送外面修，周期长、费用高。机修班组自己{method}修复，"
          "预计全年节约外委费用{amt}元。", 3000),
        T("{sheet}边角料修旧利废",
          "把下料剩下的{sheet}边角料分拣出来，加工成垫片、护板等小件自用，节约{amt}元。", 800),
    ],
    "technical": [
        T("{equip}{part}结构改进，延长使用寿命",
          "{equip}的{part}平均{n}天就要更换一次。改进结构、加装防尘罩后，使用寿命延长到原来的"
          "两倍以上，每年节约备件费{amt}元。", 6000),
        T("自制{process}工装替代外购",
          "{process}工序需要的专用工装外购价格高。利用库存材料自行设计制作，满足生产要求，"
          "节约{amt}元。", 4000),
        T("{product}{process}夹具改进",
          "原夹具定位不准，{product}一次合格率不高。改进定位销和压紧机构后，废品率由{a}%降到{b}%，"
          "每年节约{amt}元。", 7000),
        T("{equip}控制系统改造，实现自动启停",
          "{equip}原来靠人工开停，经常空转。增加传感器和延时控制，无料自动停机，"
          "每年节约电费和维修费{amt}元。", 9000),
    ],
    "process": [
        T("优化{process}工艺参数，降低废品率",
          "通过试验调整{param}，{product}的废品率由{a}%降到{b}%，加工时间也缩短了。"
          "按全年产量计算，节约{amt}元。", 6000),
        T("{sheet}套裁排料，提高利用率",
          "改进{sheet}的排料方式，采用套裁，材料利用率提高{p2}个百分点，每年节约材料{amt}元。",
          4000),
        T("合并{process}工序，减少重复加热",
          "{product}加工中有两道工序各加热一次。调整工艺顺序后合并为一次加热，"
          "每年节约能源和工时{amt}元。", 8000),
    ],
    "management": [
        T("办公用纸双面打印、优化排版",
          "推行双面打印，报表排版压缩成一页，内部通知改为线上发送。试行一个月用纸减少约{p}%，"
          "全年可节约{amt}元。", 800),
        T("盘活{unit}闲置库存物资",
          "对{unit}库存进行清点，发现闲置{material}等物资{n}项，调剂给其他单位使用，"
          "避免重复采购，节约{amt}元。", 5000),
        T("班组领料实行定额管理",
          "对{consumable}等常用消耗品实行按定额领用、以旧换新，月底公布用量。"
          "预计每年节约{amt}元。", 2000),
        T("公务用车集中派车，减少空驶",
          "各部门用车统一登记、合并线路，减少空驶和重复出车，每月少跑约{n2}公里，"
          "全年节约油费{amt}元。", 3000),
    ],
    "material": [
        T("{scrap}回收复用",
          "生产中产生的{scrap}以前当废品处理。分类回收、整理后重新用于{process}，"
          "每年节约{amt}元。", 2500),
        T("润滑油过滤再生使用",
          "{equip}换下的润滑油经过滤沉淀、化验合格后用于要求不高的设备，每年少买新油约{n}桶，"
          "节约{amt}元。", 3000),
        T("劳保用品以旧换新",
          "手套、棉纱等劳保用品凭旧领新，杜绝多领乱用。试行后月消耗下降{p}%，全年节约{amt}元。",
          1200),
        T("包装木托盘周转复用",
          "成品发货用的木托盘与客户约定回收周转，破损的由机修班组修补，每年少买新托盘约{n2}个，"
          "节约{amt}元。", 2500),
    ],
    "other": [
        T("食堂节约用水用电",
          "食堂洗菜池加装节水龙头，蒸饭柜按用餐人数开启，预计每年节约{amt}元。", 800),
        T("下班随手关灯关电脑",
          "在{unit}推行下班“三关”（关灯、关电脑、关空调），由班组长每天检查，"
          "预计每年节约电费{amt}元。", 600),
        T("卫生间改用感应式冲水阀",
          "{area}卫生间的冲水阀经常长流水。更换为感应式冲水阀后用水明显减少，每年节约{amt}元。",
          900),
    ],
}  # fmt: skip
# The mix of the reports: repair-and-reuse and technical innovation are the most frequent.
CATEGORY_WEIGHTS = {
    "repair": 28, "technical": 20, "process": 12, "energy": 12,
    "material": 10, "management": 10, "other": 8,
}  # fmt: skip

WASTES = [
    ("{spot}水龙头长流水", "{spot}的水龙头关不严，一直在滴水，已经好几天了。"),
    ("{spot}下班后灯没关", "下班后{spot}的灯整夜亮着，没人关。"),
    ("蒸汽管道漏汽", "{spot}附近的蒸汽管道接口漏汽，保温层也脱落了。"),
    ("压缩空气管道漏气", "{spot}的压缩空气软管接头漏气，能听到明显的嘶嘶声。"),
    ("{equip}空转无人看管", "{spot}的{equip}没有生产任务时一直空转，无人看管。"),
    ("开着空调敞着门窗", "{spot}开着空调，门窗却都敞着。"),
    ("可用材料当废料处理", "{spot}的废料堆里有不少还能用的{material}，被当成废品处理了。"),
    ("{equip}润滑油滴漏", "{equip}下面的接油盘满了，润滑油滴到地上。"),
    ("办公电脑下班不关机", "{spot}下班后好几台电脑和打印机没有关机。"),
]

OPINIONS = [
    "情况属实，建议评审认定。", "测算依据基本合理，同意上报。", "已现场核实，建议按实际效果认定。",
    "方案可行，建议委员会评审。", "车间已试用，效果良好，同意上报。",
]  # fmt: skip
QUESTIONS = [
    "请补充节约金额的测算依据。", "请说明改造前后的能耗对比数据。", "请附上现场照片或试用记录。",
    "请补充实施所需的费用。", "请说明与去年同类项目的区别。",
]  # fmt: skip
ANSWERS = [
    "已补充测算表，按近三个月的平均用量对比计算。",
    "改造前月耗电约1.2万千瓦时，改造后约0.8万千瓦时。",
    "现场照片已补交给考核员。", "实施费用主要是材料费，约800元，由车间自行解决。",
    "去年的项目在一号线，这次针对的是二号线。",
]  # fmt: skip
REJECTIONS = [
    "与已有项目重复，已在实施中。", "测算依据不足，节约效果无法核实。",
    "属于岗位职责范围内的日常工作，不作为节约项目。", "方案存在安全隐患，暂不采纳。",
    "投入过大，回收期超过三年，暂缓实施。", "已列入公司年度技改计划，不重复认定。",
]  # fmt: skip
APPROVE_NOTES = [
    None,
    None,
    "同意认定。",
    "按核定金额认定，请尽快组织实施。",
    "效果明显，建议推广。",
]
IMPLEMENT_NOTES = [None, "已完成改造并投入使用。", "已按方案实施。"]
VERIFY_NOTES = [None, "跟踪三个月，实际效果与认定基本一致。", "按实际用量核算。"]
FIXES = [
    "已更换阀门密封件，漏点消除。", "已加装定时开关，下班自动断电。",
    "已安排专人巡查，问题已整改。", "已修复管道保温层。", "已清理废料，可用料已回收入库。",
]  # fmt: skip
DISMISSALS = [
    "经核实属正常生产需要。", "现场检查未发现所述情况。", "该问题已在其他报告中处理。",
    "设备处于调试阶段，属正常运行。",
]  # fmt: skip


def _yuan_text(yuan: int) -> str:
    """3500 -> "3500", 26000 -> "2.6万"."""
    if yuan < 10_000:
        return str(yuan)
    return f"{yuan / 10_000:.2f}".rstrip("0").rstrip(".") + "万"


def _nice(yuan: float) -> int:
    """A claim as a worker would estimate it: a round number."""
    step = 10 if yuan < 1_000 else 50 if yuan < 10_000 else 500 if yuan < 100_000 else 1_000
    return max(step, round(yuan / step) * step)


# --- time ----------------------------------------------------------------------------------


class _Clock:
    """Local seconds since the campaign's first midnight, and their UTC datetimes."""

    def __init__(self, start: date, days: int, tz: ZoneInfo) -> None:
        self.end = (days + 1) * DAY - 1  # the last second of `today`
        self.midnights: list[datetime] = []
        self.years: list[int] = []
        for d in range(days + 2):
            day = start + timedelta(days=d)
            offset = datetime.combine(day, time(12), tz).utcoffset() or timedelta(0)
            self.midnights.append((datetime.combine(day, time()) - offset).replace(tzinfo=UTC))
            self.years.append(day.year)

    def utc(self, t: int) -> datetime:
        d, s = divmod(t, DAY)
        return self.midnights[d] + timedelta(seconds=s)

    def year(self, t: int) -> int:
        return self.years[t // DAY]


def _allocate(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), each at least `minimum`."""
    rest = total - minimum * len(weights)
    scale = sum(weights)
    shares = [rest * w / scale for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: counts[i] - shares[i])
    for i in order[: rest - sum(counts)]:
        counts[i] += 1
    return [c + minimum for c in counts]


def _submission_times(rng: random.Random, count: int, start: date, days: int) -> array[int]:
    """`count` sorted times over the span, in working hours, busier on weekdays and lately."""
    weights = []
    for d in range(days + 1):
        trend = 0.5 + d / max(days, 1)
        week = 1.0 if (start + timedelta(days=d)).weekday() < 5 else 0.3
        weights.append(trend * week * rng.uniform(0.8, 1.2))
    times: array[int] = array("q")
    for d, n in enumerate(_allocate(count, weights)):
        day = sorted(rng.randrange(WORK_START, WORK_END) for _ in range(n))
        times.extend(d * DAY + s for s in day)
    return times


# How long a step takes (median days, spread, shortest and longest days).
GAPS: dict[str, tuple[float, float, float, float]] = {
    "review": (1.0, 0.8, 0.05, 6),  # first review: forward, ask, reject
    "answer": (0.7, 0.8, 0.02, 4),
    "committee": (4.0, 0.7, 0.1, 14),
    "implement": (12.0, 0.6, 2, 40),
    "verify": (25.0, 0.5, 7, 60),
    "acknowledge": (0.5, 0.8, 0.02, 3),
    "fix": (3.0, 0.8, 0.2, 15),
}


# --- the plan of the ideas -----------------------------------------------------------------


@dataclass
class _Plan:
    """Per idea, in submission order: time, template, claim, outcome and certified amount."""

    times: array[int]
    template: array[int]
    claim: array[int]  # yuan
    outcome: bytearray
    certified: array[int]  # fen, 0 unless approved
    grade: bytearray  # 0 none, 1 silver, 2 gold


@dataclass(frozen=True)
class _Choice:
    """An idea template under one of the campaign's categories."""

    category_id: int | None
    weight: float
    template: _Template


def _choices(categories: Sequence[Category]) -> list[_Choice]:
    """The templates of each category, weighted by the category's share of the mix; a category
    added by the office gets the "other" templates."""
    result = []
    for c in categories:
        templates = IDEAS.get(c.code, IDEAS["other"])
        weight = CATEGORY_WEIGHTS.get(c.code, 5) / len(templates)
        result += [_Choice(c.id, weight, t) for t in templates]
    return result or [_Choice(None, 1.0, t) for t in IDEAS["other"]]


def _plan_ideas(
    rng: random.Random, shape: Shape, start: date, clock: _Clock, choices: Sequence[_Choice]
) -> _Plan:
    """Everything that needs the whole set of ideas at once: exact counts and the exact total."""
    n, k = shape.ideas, shape.approved
    times = _submission_times(rng, n, start, shape.days)
    end = clock.end
    ages = [(end - t) / DAY for t in times]

    # Templates by category weight, claims log-normal around the template's median.
    cumulative = list(accumulate(c.weight for c in choices))
    top = cumulative[-1]
    template = array("l", (bisect_right(cumulative, rng.random() * top) for _ in range(n)))
    raw = array("d")
    for i in range(n):
        median = choices[template[i]].template.median
        raw.append(min(150_000.0, max(150.0, median * math.exp(rng.gauss(0.0, 0.9)))))

    # Exactly k approved, older ideas far more likely (weighted sampling without replacement).
    keys = array("d", (math.log(1.0 - rng.random()) / _maturity(a) for a in ages))
    approved = sorted(heapq.nlargest(k, range(n), key=keys.__getitem__))
    del keys
    factor = {i: rng.uniform(0.6, 1.0) for i in approved}

    # Scale every claim so that the certified amounts land near the requested total.
    natural = sum(raw[i] * factor[i] for i in approved)
    scale = float(shape.certified_total) / natural if shape.certified_total and natural else 1.0
    claim = array("q", (_nice(x * scale) for x in raw))
    del raw
    certified = array("q", [0]) * n
    targets = {i: claim[i] * factor[i] for i in approved}
    for i, fen in _exact(targets, shape.certified_total).items():
        certified[i] = fen

    outcome = bytearray(n)
    # The oldest approved ideas got further: verified, implemented, then just approved.
    by_progress = sorted(approved, key=lambda i: -ages[i] * rng.uniform(0.6, 1.4))
    verified, implemented = round(0.2 * k), round(0.3 * k)
    for rank, i in enumerate(by_progress):
        outcome[i] = VER if rank < verified else IMPL if rank < verified + implemented else APP
    # Gold and silver mostly for the big savings.
    grade = bytearray(n)
    by_merit = sorted(approved, key=lambda i: -(math.log(certified[i]) + rng.gauss(0, 0.7)))
    gold, silver = round(0.1 * k), round(0.2 * k)
    for rank, i in enumerate(by_merit[: gold + silver]):
        grade[i] = 2 if rank < gold else 1
    # The rest wait at a stage, were returned with a question, or were rejected.
    chosen = set(approved)
    for i in range(n):
        if i not in chosen:
            outcome[i] = _open_outcome(rng, ages[i])
    return _Plan(times, template, claim, outcome, certified, grade)


def _maturity(age: float) -> float:
    """How likely an idea of this age (days) has been approved, relatively."""
    return min(1.0, (age / 20) ** 1.5) + 0.02


def _open_outcome(rng: random.Random, age: float) -> int:
    """Where an idea that was not approved stands: recent ones wait at a stage, older ones
    were mostly rejected (a few stay forgotten: overdue)."""
    if age < FIRST_REVIEW_DAYS:
        weights = (0.55, 0.2, 0.1, 0.15)
    elif age < 12:
        weights = (0.2, 0.35, 0.15, 0.3)
    else:
        waiting = 0.05 + 0.5 * math.exp(-(age - 12) / 60)
        weights = (0.25 * waiting, 0.45 * waiting, 0.3 * waiting, 1 - waiting)
    return rng.choices((FR, COM, NI, REJ), weights)[0]


def _exact(targets: dict[int, float], total: Decimal | None) -> dict[int, int]:
    """Whole yuan (as fen) close to the targets whose sum is exactly `total` (its fen, if any,
    go to the largest amount); without a total, the targets rounded."""
    if not targets:
        return {}
    if total is None:
        return {i: max(1, round(x)) * 100 for i, x in targets.items()}
    whole = int(total)
    fen = int((total - whole) * 100)
    scale = whole / sum(targets.values())
    scaled = {i: x * scale for i, x in targets.items()}
    yuan = {i: max(1, int(x)) for i, x in scaled.items()}
    diff = whole - sum(yuan.values())
    # Short: one more yuan to the largest remainders; over (minimums): one less to the largest.
    if diff > 0:
        order = sorted(yuan, key=lambda i: (yuan[i] - scaled[i], i))
    else:
        order = sorted(yuan, key=lambda i: (-yuan[i], i))
    step = 1 if diff > 0 else -1
    while diff:
        for i in order:
            if diff == 0:
                break
            if yuan[i] + step >= 1:
                yuan[i] += step
                diff -= step
    largest = max(yuan, key=lambda i: (yuan[i], -i))
    result = {i: y * 100 for i, y in yuan.items()}
    result[largest] += fen
    return result


# --- people --------------------------------------------------------------------------------


def committee_size(units: int) -> int:
    return max(5, min(25, units // 10))


@dataclass
class _Plant:
    names: list[str]
    unit_ids: list[int]
    first: list[int]  # each unit's first member id (its assessor, if it has one)
    size: list[int]
    assessor: list[int | None]
    committee: list[int]
    admin: int
    pick: list[float]  # cumulative weights: which unit an item comes from


def _name(rng: random.Random) -> str:
    surname = SURNAMES[int(len(SURNAMES) * rng.random() ** 2)]  # common surnames more often
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return surname + given


def _group(rng: random.Random) -> str:
    r = rng.random()
    group = MemberGroup.PARTY if r < 0.15 else MemberGroup.LEAGUE if r < 0.35 else MemberGroup.STAFF
    return group.value


def _language(rng: random.Random) -> str | None:
    r = rng.random()
    return None if r < 0.6 else "zh" if r < 0.92 else "en"


def _plant(rng: random.Random, shape: Shape) -> _Plant:
    """Units and their sizes, and who holds which role (members are numbered unit by unit)."""
    n = shape.units
    names = unit_names(n)
    workshop = ["车间" in name for name in names]
    weights = [math.exp(rng.gauss(0, 0.35)) * (1.0 if w else 0.25) for w in workshop]
    size = _allocate(shape.workers, weights, MIN_UNIT)
    first = list(accumulate([1, *size[:-1]]))
    departments = [u for u in range(n) if not workshop[u]] or list(range(n))

    def someone(u: int) -> int:  # a member of the unit other than its first (the assessor)
        return first[u] + 1 + rng.randrange(size[u] - 1)

    offices = [u for u in range(n) if names[u] in OFFICE_UNITS]
    admin_unit = offices[0] if offices else max(departments, key=lambda u: size[u])
    admin = someone(admin_unit)
    # One unit (a department, not the office's) has no assessor.
    without = None
    if n > 1:
        others = [u for u in departments if u != admin_unit]
        without = rng.choice(others or [u for u in range(n) if u != admin_unit])
    assessor = [None if u == without else first[u] for u in range(n)]
    # The committee: mostly people from the departments (technical, production, quality).
    committee: list[int] = []
    wanted = committee_size(n)
    pool = departments + [u for u in range(n) if u not in departments]
    while len(committee) < wanted:
        for u in pool:
            member = someone(u)
            if member != admin and member not in committee and len(committee) < wanted:
                committee.append(member)
    activity = [size[u] * rng.uniform(0.5, 1.5) for u in range(n)]
    unit_ids = list(range(1, n + 1))
    return _Plant(
        names, unit_ids, first, size, assessor, committee, admin, list(accumulate(activity))
    )


async def _write_people(
    session: AsyncSession, rng: random.Random, plant: _Plant, clock: _Clock
) -> None:
    """Units, workers (all joined, with fake Telegram ids) and assessors, on the first morning."""
    p = plant
    created = clock.utc(8 * 3600)
    units = [
        {"id": unit_id, "name": name, "headcount": size, "archived": False, "created_at": created}
        for unit_id, name, size in zip(p.unit_ids, p.names, p.size, strict=True)
    ]
    await session.execute(insert(_table("unit")), units)
    committee = set(p.committee)
    rows: list[dict[str, Any]] = []
    for u, unit_id in enumerate(p.unit_ids):
        for member_id in range(p.first[u], p.first[u] + p.size[u]):
            rows.append(
                {
                    "id": member_id,
                    "telegram_id": TELEGRAM_BASE + member_id,
                    "username": None,
                    "name": _name(rng),
                    "unit_id": unit_id,
                    "group": _group(rng),
                    "language": _language(rng),
                    "is_admin": member_id == p.admin,
                    "is_committee": member_id in committee,
                    "status": MemberStatus.ACTIVE.value,
                    "unreachable": False,
                    "created_at": clock.utc(8 * 3600 + rng.randrange(1500)),
                }
            )
            if len(rows) >= CHUNK:
                await session.execute(insert(_table("member")), rows)
                rows = []
    if rows:
        await session.execute(insert(_table("member")), rows)
    assessors = [
        {"unit_id": unit_id, "member_id": a}
        for unit_id, a in zip(p.unit_ids, p.assessor, strict=True)
        if a is not None
    ]
    if assessors:
        await session.execute(insert(_table("unit_assessor")), assessors)


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


# --- items ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One step of an item's history, before its time is known."""

    gap: str  # which delay of GAPS leads to it
    action: str
    from_status: str | None
    to_status: str
    actor: int
    reason: str | None = None
    amount: Decimal | None = None
    data: dict[str, Any] | None = None


class _Writer:
    """Builds items with their authors and events, in submission order, and writes them."""

    def __init__(
        self,
        session: AsyncSession,
        rng: random.Random,
        clock: _Clock,
        campaign: Campaign,
        plant: _Plant,
        choices: Sequence[_Choice],
    ) -> None:
        self.session, self.rng, self.clock, self.campaign = session, rng, clock, campaign
        self.plant, self.choices = plant, choices
        self.counters: dict[tuple[str, int], int] = {}
        self.items: list[dict[str, Any]] = []
        self.authors: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.certified_fen = 0
        self.counted_fen = 0

    # -- helpers

    def _unit(self) -> int:
        pick = self.plant.pick
        return bisect_right(pick, self.rng.random() * pick[-1])

    def _worker(self, unit: int, avoid: Sequence[int] = ()) -> int:
        """A member of the unit who is not its assessor; some people submit much more."""
        p = self.plant
        low = p.first[unit] + (0 if p.assessor[unit] is None else 1)
        span = p.first[unit] + p.size[unit] - low
        member = low + int(span * self.rng.random() ** 1.8)
        while member in avoid:
            member = low + (member - low + 1) % span
        return member

    def _committee(self, authors: Sequence[int]) -> int:
        """A committee member who is not an author (nobody reviews their own item)."""
        members = self.plant.committee
        at = self.rng.randrange(len(members))
        while members[at] in authors:
            at = (at + 1) % len(members)
        return members[at]

    def _number(self, kind: str, t: int) -> str:
        """The registration number, in submission order per kind and year (as `next_number`)."""
        year = self.clock.year(t)
        value = self.counters.get((kind, year), 0) + 1
        self.counters[(kind, year)] = value
        c = self.campaign
        prefix = c.idea_prefix if kind == IDEA else c.waste_prefix
        return f"{prefix}-{year}-{value:04d}"

    def _timed(self, start: int, steps: Sequence[_Step]) -> list[int]:
        """Times of the steps: each after the previous by its usual delay, in working hours,
        squeezed proportionally when the history would run past `today`."""
        rng, t, times = self.rng, start, []
        for step in steps:
            median, spread, low, high = GAPS[step.gap]
            days = min(high, max(low, median * math.exp(spread * rng.gauss(0, 1))))
            t += int(days * DAY)
            d, s = divmod(t, DAY)
            if s < WORK_START:
                t = d * DAY + WORK_START + rng.randrange(3600)
            elif s >= WORK_END:
                t = (d + 1) * DAY + WORK_START + rng.randrange(3600)
            times.append(t)
        end = self.clock.end
        if times and times[-1] > end:
            ratio = (end - start) / (times[-1] - start)
            times = [start + int((x - start) * ratio) for x in times]
        return times

    def _events(self, item_id: int, start: int, steps: Sequence[_Step]) -> list[int]:
        """The events of the steps (the first is the submission, at `start`); their times."""
        times = [start, *self._timed(start, steps[1:])]
        utc = self.clock.utc
        for step, t in zip(steps, times, strict=True):
            self.events.append(
                {
                    "item_id": item_id,
                    "actor_id": step.actor,
                    "action": step.action,
                    "from_status": step.from_status,
                    "to_status": step.to_status,
                    "reason": step.reason,
                    "amount": step.amount,
                    "data": step.data,
                    "created_at": utc(t),
                }
            )
        return times

    def _round_trip(self, stage: str, asker: int, author: int) -> list[_Step]:
        """A question to the author and the answer, back to the same stage."""
        rng = self.rng
        return [
            _Step("review", "ask", stage, S.NEEDS_INFO, asker, rng.choice(QUESTIONS)),
            _Step("answer", "answer", S.NEEDS_INFO, stage, author, rng.choice(ANSWERS)),
        ]

    def _item(
        self, item_id: int, kind: str, start: int, unit: int, author: int, title: str, body: str
    ) -> dict[str, Any]:
        """The columns every item has; the rest are set by the caller."""
        return {
            "id": item_id,
            "campaign_id": self.campaign.id,
            "kind": kind,
            "number": self._number(kind, start),
            "unit_id": self.plant.unit_ids[unit],
            "author_id": author,
            "title": title,
            "body": body,
            "submitted_at": self.clock.utc(start),
            "client_key": None,
            "reminded_at": None,
        }

    # -- ideas

    def idea(self, item_id: int, plan: _Plan, i: int) -> None:
        rng, p = self.rng, self.plant
        start = plan.times[i]
        unit = self._unit()
        author = self._worker(unit)
        authors = [author]
        if rng.random() < 0.2:
            others = p.size[unit] - (0 if p.assessor[unit] is None else 1) - 1
            for _ in range(min(others, 1 if rng.random() < 0.7 else 2)):
                authors.append(self._worker(unit, authors))
        choice = self.choices[plan.template[i]]
        claim = plan.claim[i]
        slots = _Slots(rng, unit=p.names[unit], amt=_yuan_text(claim))
        title = choice.template.title.format_map(slots)
        body = choice.template.body.format_map(slots)

        outcome = plan.outcome[i]
        assessor = p.assessor[unit]
        if assessor is None and outcome == FR:
            outcome = COM  # no first review: straight to the committee
        claimed = Decimal(claim)
        entry = S.FIRST_REVIEW if assessor is not None else S.COMMITTEE
        steps = [_Step("", "submit", None, entry, author, amount=claimed)]

        def first_review(forward: bool) -> None:
            if assessor is None:
                return
            if rng.random() < 0.1:
                steps.extend(self._round_trip(S.FIRST_REVIEW, assessor, author))
            if forward:
                opinion = rng.choice(OPINIONS)
                steps.append(
                    _Step("review", "forward", S.FIRST_REVIEW, S.COMMITTEE, assessor, opinion)
                )

        def committee_round_trip() -> None:
            if rng.random() < 0.1:
                steps.extend(self._round_trip(S.COMMITTEE, self._committee(authors), author))

        info_from: str | None = None
        asked_by: int | None = None
        certified = verified = reward = None
        grade = Grade.NONE.value
        if outcome == FR:
            first_review(forward=False)
        elif outcome == NI:
            at_first = assessor is not None and rng.random() < 0.5
            first_review(forward=not at_first)
            info_from = S.FIRST_REVIEW if at_first else S.COMMITTEE
            asked_by = assessor if at_first and assessor else self._committee(authors)
            question = rng.choice(QUESTIONS)
            steps.append(_Step("review", "ask", info_from, S.NEEDS_INFO, asked_by, question))
        elif outcome == COM:
            first_review(forward=True)
            committee_round_trip()
        elif outcome == REJ:
            at_first = assessor is not None and rng.random() < 0.5
            first_review(forward=not at_first)
            reason = rng.choice(REJECTIONS)
            if at_first and assessor:
                steps.append(
                    _Step("review", "reject", S.FIRST_REVIEW, S.REJECTED, assessor, reason)
                )
            else:
                committee_round_trip()
                who = self._committee(authors)
                steps.append(_Step("committee", "reject", S.COMMITTEE, S.REJECTED, who, reason))
        else:
            first_review(forward=True)
            committee_round_trip()
            fen = plan.certified[i]
            certified = Decimal(fen).scaleb(-2)
            grade = (Grade.NONE, Grade.SILVER, Grade.GOLD)[plan.grade[i]].value
            reward = reward_for(self.campaign, grade, certified)
            steps.append(
                _Step(
                    "committee", "approve", S.COMMITTEE, S.APPROVED, self._committee(authors),
                    rng.choice(APPROVE_NOTES), certified, {"grade": grade, "reward": str(reward)},
                )
            )  # fmt: skip
            self.certified_fen += fen
            counted = fen
            if outcome >= IMPL:
                implementer = assessor or self._committee(authors)
                note = rng.choice(IMPLEMENT_NOTES)
                steps.append(
                    _Step("implement", "implement", S.APPROVED, S.IMPLEMENTED, implementer, note)
                )
            if outcome == VER:
                yuan = max(1, round(fen / 100 * rng.uniform(0.8, 1.2)))
                verified = Decimal(yuan)
                counted = yuan * 100
                steps.append(
                    _Step(
                        "verify", "verify", S.IMPLEMENTED, S.VERIFIED, self._committee(authors),
                        rng.choice(VERIFY_NOTES), verified,
                    )
                )  # fmt: skip
            self.counted_fen += counted

        times = self._events(item_id, start, steps)
        utc = self.clock.utc
        when = {step.action: utc(t) for step, t in zip(steps, times, strict=True)}
        last = utc(times[-1])
        row = self._item(item_id, IDEA, start, unit, author, title, body)
        row.update(
            anonymous=False,
            place=None,
            status=OUTCOME[outcome],
            stage_since=last,
            updated_at=last,
            category_id=choice.category_id,
            claimed_amount=claimed,
            certified_amount=certified,
            verified_amount=verified,
            reward_amount=reward,
            grade=grade,
            approved_at=when.get("approve"),
            implemented_at=when.get("implement"),
            verified_at=when.get("verify"),
            closed_at=last if outcome in (REJ, VER) else None,
            info_from_status=info_from,
            info_asked_by=asked_by,
        )
        self.items.append(row)
        self.authors += [
            {"item_id": item_id, "member_id": m, "is_submitter": m == author} for m in authors
        ]

    # -- waste reports

    def waste(self, item_id: int, start: int) -> None:
        rng, p = self.rng, self.plant
        unit = self._unit()
        author = self._worker(unit, (p.admin,))  # the office handles reports: not its own
        title_template, body_template = rng.choice(WASTES)
        slots = _Slots(rng)
        title, body = title_template.format_map(slots), body_template.format_map(slots)
        place = p.names[unit] + slots["spot"]
        age = (self.clock.end - start) / DAY
        if age < 2:
            weights = (0.6, 0.3, 0.05, 0.05)
        elif age < 10:
            weights = (0.15, 0.35, 0.35, 0.15)
        else:
            weights = (0.05, 0.15, 0.6, 0.2)
        status = rng.choices((S.REPORTED, S.ACKNOWLEDGED, S.FIXED, S.DISMISSED), weights)[0]

        def handler() -> int:  # the unit's assessor, or the office
            assessor = p.assessor[unit]
            return assessor if assessor is not None and rng.random() < 0.85 else p.admin

        steps = [_Step("", "submit", None, S.REPORTED, author)]
        at = S.REPORTED
        if status == S.ACKNOWLEDGED or (status != S.REPORTED and rng.random() < 0.6):
            steps.append(_Step("acknowledge", "acknowledge", at, S.ACKNOWLEDGED, handler()))
            at = S.ACKNOWLEDGED
            if len(p.names) > 1 and rng.random() < 0.1:
                # Passed on to the unit where the waste really is.
                who = handler()
                unit = (unit + 1 + rng.randrange(len(p.names) - 1)) % len(p.names)
                data = {"unit": p.names[unit]}
                steps.append(_Step("acknowledge", "assign", at, S.ACKNOWLEDGED, who, data=data))
        if status == S.FIXED:
            steps.append(_Step("fix", "fix", at, S.FIXED, handler(), rng.choice(FIXES)))
        elif status == S.DISMISSED:
            reason = rng.choice(DISMISSALS)
            steps.append(_Step("acknowledge", "dismiss", at, S.DISMISSED, handler(), reason))
        times = self._events(item_id, start, steps)
        last = self.clock.utc(times[-1])
        row = self._item(item_id, WASTE, start, unit, author, title, body)
        row.update(
            anonymous=rng.random() < 0.3,
            place=place,
            status=status,
            stage_since=last,
            updated_at=last,
            category_id=None,
            claimed_amount=None,
            certified_amount=None,
            verified_amount=None,
            reward_amount=None,
            grade=Grade.NONE.value,
            approved_at=None,
            implemented_at=None,
            verified_at=None,
            closed_at=last if status in (S.FIXED, S.DISMISSED) else None,
            info_from_status=None,
            info_asked_by=None,
        )
        self.items.append(row)
        self.authors.append({"item_id": item_id, "member_id": author, "is_submitter": True})

    async def flush(self) -> None:
        """Write what was built (items first: authors and events refer to them)."""
        batches = (("item", self.items), ("item_author", self.authors), ("item_event", self.events))
        for table, rows in batches:
            if rows:
                await self.session.execute(insert(_table(table)), rows)
        self.items, self.authors, self.events = [], [], []


# --- the whole -----------------------------------------------------------------------------


def _check(shape: Shape) -> None:
    if shape.units < 1 or shape.days < 0 or min(shape.ideas, shape.approved, shape.waste) < 0:
        raise ValueError("units, days and counts must not be negative")
    if shape.workers < MIN_UNIT * shape.units:
        raise ValueError(f"at least {MIN_UNIT} workers per unit")
    if shape.workers < shape.units + committee_size(shape.units) + 2:
        raise ValueError("too few workers for the committee and the office")
    if shape.approved > shape.ideas:
        raise ValueError("more approved ideas than ideas")
    total = shape.certified_total
    if total is not None:
        if total < 0 or total != total.quantize(Decimal("0.01")):
            raise ValueError("the certified total must be yuan and fen")
        if shape.approved and total < shape.approved:
            raise ValueError("every approved idea needs at least one yuan")
        if not shape.approved and total:
            raise ValueError("a certified total without approved ideas")


def _ends_on(start: date, today: date) -> date:
    """The end of the campaign year (starts_on + 1 year - 1 day); for a span longer than a
    year, of the first such year that reaches `today`."""
    years = 1
    while True:
        try:
            end = start.replace(year=start.year + years) - timedelta(days=1)
        except ValueError:  # from 29 February
            end = date(start.year + years, 2, 28)
        if end >= today:
            return end
        years += 1


async def populate(db: Database, shape: Shape, today: date, tz: ZoneInfo) -> Facts:
    """Write the dataset into a migrated database without units, members or items; the
    campaign (created with its default categories if there is none) began `shape.days` days
    before `today`. Items are written in a second transaction after the people."""
    _check(shape)
    rng = random.Random(shape.seed)
    start = today - timedelta(days=shape.days)
    clock = _Clock(start, shape.days, tz)
    campaign_id = (await campaigns.ensure_default(db, today)).id
    plant = _plant(rng, shape)
    async with db.write() as session:
        for model in (Unit, Member, Item):
            if await session.scalar(select(func.count()).select_from(model)):
                raise ValueError("the database already holds units, members or items")
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(starts_on=start, ends_on=_ends_on(start, today), created_at=clock.utc(0))
        )
        campaign = await session.get(Campaign, campaign_id, populate_existing=True)
        assert campaign is not None
        categories = list(
            await session.scalars(
                select(Category)
                .where(Category.campaign_id == campaign_id, Category.archived.is_(False))
                .order_by(Category.position, Category.id)
            )
        )
        await _write_people(session, rng, plant, clock)
    choices = _choices(categories)
    plan = _plan_ideas(rng, shape, start, clock, choices)
    waste_times = _submission_times(rng, shape.waste, start, shape.days)

    async with db.write() as session:
        writer = _Writer(session, rng, clock, campaign, plant, choices)
        i = j = 0
        for item_id in range(1, shape.ideas + shape.waste + 1):
            if j >= shape.waste or (i < shape.ideas and plan.times[i] <= waste_times[j]):
                writer.idea(item_id, plan, i)
                i += 1
            else:
                writer.waste(item_id, waste_times[j])
                j += 1
            if len(writer.items) >= CHUNK:
                await writer.flush()
        await writer.flush()
        counters = [
            {"campaign_id": campaign_id, "kind": kind, "year": year, "last_value": value}
            for (kind, year), value in sorted(writer.counters.items())
        ]
        if counters:
            await session.execute(insert(_table("counter")), counters)
        if not db.is_sqlite:
            # The ids were given here: move the sequences past them.
            for table in ("unit", "member", "item"):
                await session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
    await ledger.rebuild(db, campaign_id, tz)
    return Facts(
        campaign_id=campaign_id,
        units=shape.units,
        workers=shape.workers,
        ideas=shape.ideas,
        approved=shape.approved,
        certified_total=Decimal(writer.certified_fen).scaleb(-2),
        counted_total=Decimal(writer.counted_fen).scaleb(-2),
        waste=shape.waste,
    )
