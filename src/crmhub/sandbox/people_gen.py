"""Natural persons of the synthetic world: names (with pinyin for e-mail addresses), resident ID numbers, mobile
numbers, and the bank's fixed pool of relationship managers.

Resident ID numbers follow GB 11643-1999: a real GB/T 2260 address code, a real birth date, a sequence whose last
digit is odd for men and even for women, and the ISO 7064 MOD 11-2 check character — so ``stdnum.cn.ric`` accepts
every one, and a masking or validation bug shows up as a test failure rather than as noise.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, timedelta

from crmhub.sandbox.geo import CITIES, CITY_WEIGHTS


def _table(spec: str) -> list[list[str]]:
    """Split ``"王:wang:72 李:li:72"`` into rows of fields."""
    return [item.split(":") for item in spec.split()]


SURNAMES: tuple[tuple[str, str, int], ...] = tuple(
    (s, p, int(w))
    for s, p, w in _table(
        "王:wang:72 李:li:72 张:zhang:68 刘:liu:54 陈:chen:46 杨:yang:32 黄:huang:24 赵:zhao:22 吴:wu:21 "
        "周:zhou:21 徐:xu:15 孙:sun:15 马:ma:14 朱:zhu:13 胡:hu:13 郭:guo:12 何:he:12 高:gao:11 林:lin:11 "
        "罗:luo:10 郑:zheng:10 梁:liang:10 谢:xie:8 宋:song:8 唐:tang:8 许:xu:7 韩:han:7 冯:feng:7 邓:deng:7 "
        "曹:cao:7 彭:peng:6 曾:zeng:6 肖:xiao:6 田:tian:6 董:dong:6 袁:yuan:5 潘:pan:5 于:yu:5 蒋:jiang:5 "
        "蔡:cai:5 余:yu:5 杜:du:5 叶:ye:5 程:cheng:5 苏:su:4 魏:wei:4 吕:lv:4 丁:ding:4 任:ren:4 沈:shen:4 "
        "姚:yao:4 卢:lu:4 姜:jiang:4 崔:cui:4 钟:zhong:4 谭:tan:3 陆:lu:3 汪:wang:3 范:fan:3 金:jin:3 石:shi:3 "
        "廖:liao:3 贾:jia:3 夏:xia:3 韦:wei:3 付:fu:3 方:fang:3 白:bai:3 邹:zou:3 孟:meng:3 熊:xiong:3 "
        "秦:qin:3 邱:qiu:3 江:jiang:3 尹:yin:3 薛:xue:2 段:duan:2 雷:lei:2 侯:hou:2 龙:long:2 史:shi:2 "
        "陶:tao:2 黎:li:2 贺:he:2 顾:gu:2 毛:mao:2 郝:hao:2 龚:gong:2 邵:shao:2 万:wan:2 钱:qian:2 严:yan:2 "
        "武:wu:2 戴:dai:2 孔:kong:1 向:xiang:1 汤:tang:1 欧阳:ouyang:1 司马:sima:1 上官:shangguan:1"
    )
)
"""(surname, pinyin, relative frequency) — frequencies roughly follow the national surname ranking."""

_SURNAME_WEIGHTS = tuple(w for _, _, w in SURNAMES)

GIVEN_CHARS: tuple[tuple[str, str], ...] = tuple(
    (c, p)
    for c, p in _table(
        "伟:wei 芳:fang 娜:na 敏:min 静:jing 丽:li 强:qiang 磊:lei 军:jun 洋:yang 勇:yong 艳:yan 杰:jie "
        "娟:juan 涛:tao 明:ming 超:chao 秀:xiu 霞:xia 平:ping 刚:gang 桂:gui 英:ying 华:hua 建:jian 文:wen "
        "玉:yu 兰:lan 红:hong 志:zhi 海:hai 波:bo 宇:yu 浩:hao 鹏:peng 辉:hui 婷:ting 雪:xue 琳:lin 晨:chen "
        "欣:xin 佳:jia 俊:jun 峰:feng 斌:bin 凯:kai 颖:ying 倩:qian 慧:hui 宁:ning 博:bo 瑶:yao 梅:mei 国:guo "
        "春:chun 东:dong 晓:xiao 嘉:jia 子:zi 思:si 雨:yu 昊:hao 天:tian 一:yi 梓:zi 睿:rui 泽:ze 欢:huan "
        "云:yun 飞:fei 亮:liang 龙:long 成:cheng 新:xin 立:li 永:yong 德:de 彬:bin 萍:ping 丹:dan 燕:yan "
        "振:zhen 宏:hong 家:jia 荣:rong 庆:qing 玲:ling 秋:qiu 晶:jing 蕾:lei 亚:ya 军:jun 正:zheng 少:shao"
    )
)
"""(character, pinyin) for given names."""


@dataclass(frozen=True, slots=True)
class Person:
    """A generated natural person."""

    name: str
    pinyin: str
    id_number: str
    mobile: str
    male: bool


MOBILE_PREFIXES: tuple[str, ...] = (
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
)
"""Prefixes in commercial use by the three carriers (the 1[3-9]x pattern with real allocations)."""

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_check(body17: str) -> str:
    """GB 11643-1999 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(body17, _ID_WEIGHTS, strict=True)) % 11]


def resident_id(rng: random.Random, *, birth: date, male: bool) -> str:
    """An 18-character resident ID with a real district code as address and a valid check character.

    The address code is one that was on record in the birth year (GB/T 2260 codes change; ``stdnum.cn.ric``
    checks this), falling back to the city's code for people born before their district's code existed.
    """
    while True:
        city = rng.choices(CITIES, weights=CITY_WEIGHTS)[0]
        codes = [d.code for d in city.districts if d.since <= birth.year and d.code != city.code]
        if not codes and city.since <= birth.year:
            codes = [city.code]  # born before the district codes existed: the city's own code
        if codes:
            break
    seq = rng.randrange(0, 100) * 10 + rng.randrange(0, 5) * 2 + (1 if male else 0)
    body = f"{rng.choice(codes)}{birth:%Y%m%d}{seq:03d}"
    return body + resident_id_check(body)


def mobile(rng: random.Random) -> str:
    """An 11-digit mainland mobile number."""
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(0, 10**8):08d}"


def person_name(rng: random.Random) -> tuple[str, str]:
    """(name, pinyin) — a surname by frequency and a one- or two-character given name."""
    surname, sp, _ = rng.choices(SURNAMES, weights=_SURNAME_WEIGHTS)[0]
    n = 1 if rng.random() < 0.3 else 2
    chars = [rng.choice(GIVEN_CHARS) for _ in range(n)]
    return surname + "".join(c for c, _ in chars), sp + "".join(p for _, p in chars)


def person(rng: random.Random, today: date, *, min_age: int = 24, max_age: int = 66) -> Person:
    """A person of working age on ``today``."""
    name, py = person_name(rng)
    male = rng.random() < 0.68
    birth = today - timedelta(days=rng.randrange(min_age * 365, max_age * 365))
    return Person(name, py, resident_id(rng, birth=birth, male=male), mobile(rng), male)


@dataclass(frozen=True, slots=True)
class RelationshipManager:
    """A bank relationship manager (客户经理) who owns client records in the CRMs.

    ``user_id`` is the WeCom user id (the key the notification channels address); ``zoho_user_id`` and
    ``fxiaoke_open_user_id`` are the same person's native ids, so simulators can render native owner lookups.
    """

    name: str
    user_id: str
    email: str
    mobile: str
    zoho_user_id: str
    fxiaoke_open_user_id: str
    office: str


def _rm(name: str, user_id: str, office: str, n: int) -> RelationshipManager:
    digest = hashlib.md5(f"crmhub-rm:{user_id}".encode(), usedforsecurity=False).hexdigest()
    return RelationshipManager(
        name=name,
        user_id=user_id,
        email=f"{user_id}@bank.example",
        mobile=f"139{int(digest[:8], 16) % 10**8:08d}",
        zoho_user_id=f"4970762000000{170000 + n * 7:06d}",
        fxiaoke_open_user_id=f"FSUID_{digest.upper()}",
        office=office,
    )


RM_POOL: tuple[RelationshipManager, ...] = tuple(
    _rm(name, uid, office, n)
    for n, (name, uid, office) in enumerate(
        (
            ("张伟", "zhangwei", "北京分行"),
            ("王芳", "wangfang", "北京分行"),
            ("李娜", "lina", "上海分行"),
            ("刘洋", "liuyang", "上海分行"),
            ("陈静", "chenjing", "深圳分行"),
            ("杨磊", "yanglei", "深圳分行"),
            ("赵敏", "zhaomin", "广州分行"),
            ("黄强", "huangqiang", "广州分行"),
            ("周婷", "zhouting", "杭州分行"),
            ("吴斌", "wubin", "杭州分行"),
            ("徐丽", "xuli", "南京分行"),
            ("孙浩", "sunhao", "南京分行"),
            ("马超", "machao", "成都分行"),
            ("朱琳", "zhulin", "武汉分行"),
            ("胡军", "hujun", "天津分行"),
            ("郭鹏", "guopeng", "重庆分行"),
            ("何雪", "hexue", "苏州分行"),
            ("高峰", "gaofeng", "青岛分行"),
            ("林涛", "lintao", "厦门分行"),
            ("罗敏", "luomin", "西安分行"),
        )
    )
)
"""The bank's 20 relationship managers; every CRM record is owned by one of them."""

RM_BY_USER_ID: dict[str, RelationshipManager] = {rm.user_id: rm for rm in RM_POOL}

CONTACT_TITLES: tuple[str, ...] = (
    "财务总监",
    "财务经理",
    "出纳",
    "总经理",
    "副总经理",
    "采购经理",
    "行政主管",
    "董事会秘书",
    "会计",
    "销售总监",
)
