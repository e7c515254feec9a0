"""Regions for the synthetic world: provinces, cities and districts with their GB/T 2260 division codes.

The world needs real division codes because positions 3-8 of a USCC are the registering authority's GB/T 2260
code, and positions 1-6 of a resident ID number are the holder's registered address; matchers block on them. The
list is a hand-checked subset (every provincial-level unit, one to four major cities each, a few districts per
city), weighted roughly by where corporate banking business concentrates. Postcodes are each city's main code
(the district's own code varies within the city's range); telephone area codes are the city's.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class District:
    """A district (市辖区) or county-level unit."""

    name: str
    code: str
    since: int = 0
    """First year the code is on record (0 = since before 1983, when the record starts)."""


@dataclass(frozen=True, slots=True)
class City:
    """A prefecture-level city (or a municipality) with the districts the world uses."""

    province: str
    province_code: str
    name: str
    code: str
    postcode: str
    area_code: str
    weight: int
    districts: tuple[District, ...]
    since: int = 0
    recent: tuple[District, ...] = ()
    """Districts created since 2016 (深圳 龙华/坪山/光明, 杭州 临平/钱塘, 济南 莱芜/钢城). Kept apart from
    ``districts`` so that worlds generated before they were added stay the same: the world's ``cases`` stream
    moves some companies there (`crmhub.sandbox.identity_gen.Cases`)."""

    municipality: bool = field(init=False)
    """True for 北京, 天津, 上海, 重庆, whose province and city are the same unit."""
    short: str = field(init=False)
    """The name without 市 (``深圳``), the form used inside company names."""
    province_short: str = field(init=False)
    """The province without 省/市/自治区 suffixes (``广东``, ``广西``)."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "municipality", self.province == self.name)
        set_(self, "short", self.name[:-1] if self.name.endswith("市") else self.name)
        p = self.province
        for suffix in ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市"):
            if p.endswith(suffix):
                p = p[: -len(suffix)]
                break
        set_(self, "province_short", p)


def _d(spec: str) -> tuple[District, ...]:
    """Parse ``"东城区:110101 通州区:110112:1997"`` (name, code, optional first year on record)."""
    out = []
    for item in spec.split():
        name, code, *since = item.split(":")
        out.append(District(name, code, int(since[0]) if since else 0))
    return tuple(out)


CITIES: tuple[City, ...] = (
    City("北京市", "110000", "北京市", "110100", "100000", "010", 120,
         _d("东城区:110101 西城区:110102 朝阳区:110105 丰台区:110106 海淀区:110108 通州区:110112:1997 "
            "顺义区:110113:1998 大兴区:110115:2001")),
    City("天津市", "120000", "天津市", "120100", "300000", "022", 30,
         _d("和平区:120101 河西区:120103 南开区:120104 滨海新区:120116:2009")),
    City("上海市", "310000", "上海市", "310100", "200000", "021", 120,
         _d("黄浦区:310101 徐汇区:310104 长宁区:310105 静安区:310106 普陀区:310107 虹口区:310109 杨浦区:310110 "
            "闵行区:310112:1981 宝山区:310113:1988 嘉定区:310114:1992 浦东新区:310115:1992 松江区:310117:1998")),
    City("重庆市", "500000", "重庆市", "500100", "400000", "023", 30,
         _d("渝中区:500103:1997 沙坪坝区:500106:1997 九龙坡区:500107:1997 南岸区:500108:1997"), 1997),
    City("河北省", "130000", "石家庄市", "130100", "050000", "0311", 14,
         _d("长安区:130102:1983 桥西区:130104:1983 裕华区:130108:2001")),
    City("河北省", "130000", "唐山市", "130200", "063000", "0315", 6,
         _d("路北区:130203:1983")),
    City("山西省", "140000", "太原市", "140100", "030000", "0351", 8,
         _d("小店区:140105:1997 迎泽区:140106:1997")),
    City("内蒙古自治区", "150000", "呼和浩特市", "150100", "010000", "0471", 5,
         _d("新城区:150102:1983 赛罕区:150105:1983")),
    City("辽宁省", "210000", "沈阳市", "210100", "110000", "024", 12,
         _d("和平区:210102:1983 沈河区:210103:1983")),
    City("辽宁省", "210000", "大连市", "210200", "116000", "0411", 10,
         _d("中山区:210202:1983 西岗区:210203:1983 沙河口区:210204:1983")),
    City("吉林省", "220000", "长春市", "220100", "130000", "0431", 8,
         _d("南关区:220102:1983 朝阳区:220104:1983")),
    City("黑龙江省", "230000", "哈尔滨市", "230100", "150000", "0451", 8,
         _d("道里区:230102:1983 南岗区:230103:1983")),
    City("江苏省", "320000", "南京市", "320100", "210000", "025", 30,
         _d("玄武区:320102:1983 秦淮区:320104:1983 鼓楼区:320106:1983 江宁区:320115:2000")),
    City("江苏省", "320000", "无锡市", "320200", "214000", "0510", 16,
         _d("梁溪区:320213:2015 新吴区:320214:2015")),
    City("江苏省", "320000", "常州市", "320400", "213000", "0519", 10,
         _d("天宁区:320402:1983 武进区:320412:2002")),
    City("江苏省", "320000", "苏州市", "320500", "215000", "0512", 30,
         _d("虎丘区:320505:2000 吴中区:320506:2000 姑苏区:320508:2012")),
    City("浙江省", "330000", "杭州市", "330100", "310000", "0571", 36,
         _d("上城区:330102:1983 拱墅区:330105:1983 西湖区:330106:1983 滨江区:330108:1996 萧山区:330109:2001 "
            "余杭区:330110:2001"), recent=_d("临平区:330113:2021 钱塘区:330114:2021")),
    City("浙江省", "330000", "宁波市", "330200", "315000", "0574", 18,
         _d("海曙区:330203:1983 江北区:330205:1983 鄞州区:330212:2002")),
    City("浙江省", "330000", "温州市", "330300", "325000", "0577", 10,
         _d("鹿城区:330302:1983 瓯海区:330304:1992")),
    City("安徽省", "340000", "合肥市", "340100", "230000", "0551", 14,
         _d("瑶海区:340102:1983 庐阳区:340103:1983 蜀山区:340104:1983 包河区:340111:1983")),
    City("福建省", "350000", "福州市", "350100", "350000", "0591", 12,
         _d("鼓楼区:350102:1983 台江区:350103:1983 仓山区:350104:1983")),
    City("福建省", "350000", "厦门市", "350200", "361000", "0592", 12,
         _d("思明区:350203:1983 湖里区:350206:1987")),
    City("江西省", "360000", "南昌市", "360100", "330000", "0791", 8,
         _d("东湖区:360102:1983 西湖区:360103:1983")),
    City("山东省", "370000", "济南市", "370100", "250000", "0531", 16,
         _d("历下区:370102:1983 市中区:370103:1983 槐荫区:370104:1983"),
         recent=_d("莱芜区:370116:2019 钢城区:370117:2019")),
    City("山东省", "370000", "青岛市", "370200", "266000", "0532", 18,
         _d("市南区:370202:1983 市北区:370203:1983 黄岛区:370211:1983 崂山区:370212:1988")),
    City("河南省", "410000", "郑州市", "410100", "450000", "0371", 16,
         _d("中原区:410102:1983 二七区:410103:1983 金水区:410105:1983")),
    City("湖北省", "420000", "武汉市", "420100", "430000", "027", 22,
         _d("江岸区:420102:1983 江汉区:420103:1983 武昌区:420106:1983 洪山区:420111:1983")),
    City("湖南省", "430000", "长沙市", "430100", "410000", "0731", 16,
         _d("芙蓉区:430102:1983 天心区:430103:1983 岳麓区:430104:1983 开福区:430105:1983 雨花区:430111:1983")),
    City("广东省", "440000", "广州市", "440100", "510000", "020", 50,
         _d("荔湾区:440103:1983 越秀区:440104:1983 海珠区:440105:1983 天河区:440106:1985 白云区:440111:1983 "
            "黄埔区:440112:1983 番禺区:440113:2000")),
    City("广东省", "440000", "深圳市", "440300", "518000", "0755", 60,
         _d("罗湖区:440303:1983 福田区:440304:1983 南山区:440305:1983 宝安区:440306:1992 龙岗区:440307:1992"),
         recent=_d("龙华区:440309:2016 坪山区:440310:2016 光明区:440311:2018")),
    City("广东省", "440000", "佛山市", "440600", "528000", "0757", 14,
         _d("禅城区:440604:2002 南海区:440605:2002 顺德区:440606:2002")),
    City("广东省", "440000", "东莞市", "441900", "523000", "0769", 14,
         _d("东莞市:441900:1988"), 1988),
    City("广西壮族自治区", "450000", "南宁市", "450100", "530000", "0771", 6,
         _d("青秀区:450103:1983 西乡塘区:450107:2004")),
    City("海南省", "460000", "海口市", "460100", "570000", "0898", 5,
         _d("龙华区:460106:2002 美兰区:460108:2002"), 1988),
    City("四川省", "510000", "成都市", "510100", "610000", "028", 28,
         _d("锦江区:510104:1990 青羊区:510105:1990 金牛区:510106:1990 武侯区:510107:1990 成华区:510108:1990")),
    City("贵州省", "520000", "贵阳市", "520100", "550000", "0851", 5,
         _d("南明区:520102:1983 云岩区:520103:1983")),
    City("云南省", "530000", "昆明市", "530100", "650000", "0871", 7,
         _d("五华区:530102:1983 盘龙区:530103:1983 官渡区:530111:1983")),
    City("西藏自治区", "540000", "拉萨市", "540100", "850000", "0891", 1,
         _d("城关区:540102:1983")),
    City("陕西省", "610000", "西安市", "610100", "710000", "029", 16,
         _d("新城区:610102:1983 碑林区:610103:1983 莲湖区:610104:1983 雁塔区:610113:1983")),
    City("甘肃省", "620000", "兰州市", "620100", "730000", "0931", 3,
         _d("城关区:620102:1983 七里河区:620103:1983")),
    City("青海省", "630000", "西宁市", "630100", "810000", "0971", 1,
         _d("城东区:630102:1983 城中区:630103:1983")),
    City("宁夏回族自治区", "640000", "银川市", "640100", "750000", "0951", 2,
         _d("兴庆区:640104:2002")),
    City("新疆维吾尔自治区", "650000", "乌鲁木齐市", "650100", "830000", "0991", 3,
         _d("天山区:650102:1983 沙依巴克区:650103:1983")),
)
"""Cities with real GB/T 2260 codes; ``weight`` is the relative share of companies registered there."""

CITY_WEIGHTS: tuple[int, ...] = tuple(c.weight for c in CITIES)

DIVISION_NAMES: dict[str, str] = {}
"""Every division code in `CITIES` (province, city, district) → its name, for tests and explanations."""
for _c in CITIES:
    DIVISION_NAMES[_c.province_code] = _c.province
    if not _c.municipality:
        DIVISION_NAMES[_c.code] = _c.name
    for _dist in (*_c.districts, *_c.recent):
        DIVISION_NAMES[_dist.code] = _dist.name

ROADS: tuple[str, ...] = (
    "人民路", "解放路", "建设路", "中山路", "科技路", "高新路", "长江路", "黄河路", "新华路", "和平路", "滨江路",
    "创业路", "文化路", "学院路", "工业大道", "迎宾大道", "世纪大道", "金融街", "商务大道", "光明路", "幸福路",
    "东风路", "胜利路", "青年路", "振兴路", "开发大道", "软件园路", "物流园路", "产业园路", "环城北路",
)
"""Generic road names (they exist in many cities, which is exactly why they are used)."""

BUILDINGS: tuple[str, ...] = ("大厦", "中心", "广场", "科技园", "产业园", "商务楼", "国际中心", "金融中心")
