"""A small stand-alone generator of Fenxiang account views, for tests and the benchmark.

The shared world generator (`crmhub.sandbox.world.World`) is the real source of sandbox data; this module only
lets the simulator be filled with N realistic ``CrmAccountView`` objects when no world is given (tests that need
12,000 accounts, the 100,000-account benchmark). Ids are ObjectId-like (creation-time prefix), a share of
accounts carry one bulk-import timestamp (ties on ``last_modified_time``), USCCs are valid GB 32100 codes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crmhub.model.uscc import ALPHABET, make
from crmhub.sandbox.worldtypes import ContactView, CrmAccountView, OwnerView, PersonView

_REGIONS = (
    ("北京市", "北京市", "海淀区", "110108", "100080", "010"),
    ("北京市", "北京市", "朝阳区", "110105", "100020", "010"),
    ("上海市", "上海市", "浦东新区", "310115", "200120", "021"),
    ("上海市", "上海市", "徐汇区", "310104", "200030", "021"),
    ("广东省", "深圳市", "南山区", "440305", "518052", "0755"),
    ("广东省", "广州市", "天河区", "440106", "510620", "020"),
    ("浙江省", "杭州市", "西湖区", "330106", "310012", "0571"),
    ("江苏省", "南京市", "鼓楼区", "320106", "210009", "025"),
    ("四川省", "成都市", "武侯区", "510107", "610041", "028"),
    ("福建省", "福州市", "鼓楼区", "350102", "350001", "0591"),
    ("湖北省", "武汉市", "洪山区", "420111", "430070", "027"),
    ("天津市", "天津市", "和平区", "120101", "300041", "022"),
)
_TRADE_NAMES = (
    "星河",
    "华信",
    "远航",
    "恒通",
    "中泰",
    "金盛",
    "宏达",
    "瑞丰",
    "博雅",
    "汇德",
    "天成",
    "永安",
    "鼎新",
    "安捷",
    "启明",
    "新诚",
    "盛世",
    "海纳",
    "博远",
    "佳禾",
)
_INDUSTRIES = (
    ("科技", "I6510"),
    ("信息技术", "I6520"),
    ("软件", "I6511"),
    ("电子", "C3971"),
    ("通信设备", "C3921"),
    ("化工", "C2614"),
    ("钢铁", "C3110"),
    ("机械制造", "C3411"),
    ("贸易", "F5179"),
    ("商贸", "F5211"),
    ("建筑工程", "E4710"),
    ("房地产开发", "K7010"),
    ("物流", "G5430"),
    ("餐饮管理", "H6210"),
    ("投资管理", "L7212"),
    ("能源", "D4411"),
    ("环保科技", "N7722"),
    ("农业发展", "A0111"),
    ("医疗器械", "C3581"),
    ("文化传媒", "R8610"),
    ("教育咨询", "P8391"),
    ("电信服务", "I6311"),
)
STREETS = ("中关村大街", "科技园路", "人民路", "建设路", "解放路")
_FORMS = ("有限公司", "有限责任公司", "股份有限公司", "集团有限公司")
_SURNAMES = tuple("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
_GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "平",
    "刚",
    "桂英",
)
_TITLES = ("财务总监", "总经理", "财务经理", "出纳", "行政主管", "董事会秘书")


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN)


def _org_body(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET[:10] if i < 2 else ALPHABET) for i in range(8))


def _object_id(created: datetime, rng: random.Random) -> str:
    return f"{int(created.timestamp()):08x}{rng.getrandbits(64):016x}"


def generate_views(
    count: int, seed: int = 0, *, now: datetime | None = None, contacts_per_account: tuple[int, int] = (0, 3)
) -> list[CrmAccountView]:
    """``count`` Fenxiang account views with contacts, deterministic for ``seed``."""
    rng = random.Random(seed)
    now = now or datetime(2026, 11, 1, tzinfo=UTC)
    owners = [
        OwnerView(name=_person(rng), user_id=f"rm{i:03d}", email=f"rm{i:03d}@bank.example.cn")
        for i in range(max(1, min(40, count // 50 + 1)))
    ]
    bulk_import = now - timedelta(days=400, hours=3)
    views: list[CrmAccountView] = []
    for n in range(count):
        province, city, district, division, postcode, area = rng.choice(_REGIONS)
        word, code = rng.choice(_INDUSTRIES)
        trade = rng.choice(_TRADE_NAMES) + rng.choice(_TRADE_NAMES)[0]
        name = f"{city[:-1] if city.endswith('市') else city}{trade}{word}{rng.choice(_FORMS)}"
        if rng.random() < 0.12:
            created = modified = bulk_import
        else:
            created = now - timedelta(days=rng.uniform(1, 1000), seconds=rng.randrange(86_400))
            modified = created + timedelta(days=rng.uniform(0, (now - created).days or 1))
            modified = min(modified, now - timedelta(seconds=60))
        uscc = make("91" + division, _org_body(rng)) if rng.random() > 0.08 else None
        contacts = []
        for c in range(rng.randint(*contacts_per_account)):
            contacts.append(
                ContactView(
                    source_id=_object_id(created + timedelta(seconds=c + 1), rng),
                    name=_person(rng),
                    title=rng.choice(_TITLES),
                    mobile=f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
                    phone=None,
                    email=f"contact{n}_{c}@corp{n}.example.cn",
                    created_at=created + timedelta(seconds=c + 1),
                    modified_at=modified + timedelta(seconds=c + 1),
                )
            )
        views.append(
            CrmAccountView(
                system="fxiaoke",
                source_id=_object_id(created, rng),
                company_key=n,
                name=name,
                uscc=uscc,
                phone=f"{area}-{rng.randrange(10**7, 10**8)}",
                email=f"info@corp{n}.example.cn",
                website=f"https://www.corp{n}.example.cn" if rng.random() < 0.6 else None,
                province=province,
                city=city,
                district=district,
                street=f"{rng.choice(STREETS)}{rng.randrange(1, 999)}号",
                postcode=postcode,
                industry_code=code if rng.random() > 0.04 else None,
                legal_representative=PersonView(name=_person(rng)),
                registered_capital=Decimal(rng.choice((100, 500, 1000, 5000, 10000))) * 10_000,
                annual_revenue=None,
                currency="CNY",
                employees=rng.randrange(5, 5000),
                established_on=None,
                owner=rng.choice(owners),
                created_at=created,
                modified_at=modified,
                contacts=contacts,
            )
        )
    return views
