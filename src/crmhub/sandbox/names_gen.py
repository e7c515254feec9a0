"""Chinese organisation names for the synthetic world, and the drift systems accumulate on them.

A name is built from parts per 《企业名称登记管理规定》: 行政区划 + 字号 + 行业/经营特点 + 组织形式
(北京 + 星河 + 科技 + 有限公司); the region may instead sit in brackets before the form (星河科技（北京）有限公司).
Keeping the parts (`NameParts`) lets the drift operations work structurally — move the region, swap the legal
form, misspell the 字号 with a homophone — exactly the variants in domain.md §10's drift table, which the
matcher must absorb. Character-level drift (full/half width, traditional characters, stray blanks) runs on the
rendered string.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from crmhub.sandbox.geo import City


def _pairs(spec: str) -> tuple[tuple[str, str], ...]:
    return tuple((a, b) for a, b in (item.split(":") for item in spec.split()))


ZIHAO_FIRST = _pairs(
    "华:hua 星:xing 宏:hong 恒:heng 金:jin 瑞:rui 鑫:xin 博:bo 天:tian 永:yong 盛:sheng 东:dong 新:xin 远:yuan "
    "凯:kai 嘉:jia 海:hai 德:de 信:xin 安:an 广:guang 万:wan 正:zheng 明:ming 晨:chen 兴:xing 隆:long 泰:tai "
    "昌:chang 锦:jin 汇:hui 宇:yu 辉:hui 腾:teng 联:lian 润:run 九:jiu 百:bai 同:tong 大:da 富:fu 顺:shun "
    "鸿:hong 佳:jia 诚:cheng 银:yin 云:yun 蓝:lan 青:qing 绿:lv 紫:zi 聚:ju 益:yi 众:zhong 合:he 达:da "
    "通:tong 丰:feng 源:yuan 立:li 卓:zhuo 越:yue 智:zhi 创:chuang 维:wei 启:qi 航:hang 易:yi 优:you "
    "美:mei 乐:le 康:kang 健:jian 福:fu 祥:xiang 荣:rong 茂:mao 昊:hao 睿:rui 铭:ming 拓:tuo 展:zhan 峰:feng "
    "亿:yi 尚:shang 弘:hong 峻:jun 昱:yu 煜:yu 璟:jing 瀚:han 汉:han 沃:wo 麒:qi 骐:qi 鹏:peng 鹰:ying "
    "龙:long 凤:feng 豪:hao 雄:xiong 伟:wei 杰:jie 俊:jun 英:ying 贤:xian 仁:ren 忠:zhong 和:he 平:ping "
    "宁:ning 舒:shu 雅:ya 逸:yi 悦:yue 欣:xin 怡:yi 馨:xin 芳:fang 兰:lan 竹:zhu 松:song 柏:bo 桦:hua "
    "枫:feng 桐:tong 榕:rong 菁:jing 芯:xin 铜:tong 宝:bao 珠:zhu 晶:jing 翠:cui 南:nan 西:xi 北:bei "
    "乾:qian 元:yuan 方:fang 三:san 五:wu 千:qian 春:chun 秋:qiu 朝:zhao 曙:shu 旭:xu 耀:yao 飞:fei "
    "翔:xiang 翼:yi 奥:ao 澳:ao 雷:lei 霆:ting 恩:en 沛:pei 泓:hong 清:qing 洁:jie 澜:lan"
)
ZIHAO_SECOND = _pairs(
    "达:da 通:tong 源:yuan 丰:feng 远:yuan 诚:cheng 泰:tai 盛:sheng 信:xin 创:chuang 航:hang 瑞:rui 禾:he "
    "纳:na 润:run 宇:yu 辉:hui 腾:teng 拓:tuo 联:lian 峰:feng 华:hua 星:xing 河:he 海:hai 林:lin 森:sen "
    "川:chuan 山:shan 晟:sheng 昌:chang 隆:long 祥:xiang 安:an 康:kang 顺:shun 利:li 发:fa 兴:xing 鑫:xin "
    "力:li 成:cheng 天:tian 鼎:ding 恒:heng 德:de 新:xin 光:guang 明:ming 阳:yang 云:yun 智:zhi 捷:jie "
    "迈:mai 途:tu 驰:chi 威:wei 嘉:jia 邦:bang 汇:hui 美:mei 佳:jia 宏:hong 泽:ze 坤:kun 骏:jun "
    "业:ye 益:yi 域:yu 维:wei 诺:nuo 晖:hui 煌:huang 耀:yao 翔:xiang 跃:yue 宸:chen "
    "轩:xuan 彩:cai 锦:jin 盈:ying 富:fu 贵:gui 裕:yu 祺:qi 禧:xi 湖:hu 江:jiang 洋:yang "
    "岚:lan 峻:jun 岳:yue 石:shi 磊:lei 原:yuan 野:ye 田:tian 园:yuan 城:cheng 港:gang 湾:wan 桥:qiao "
    "塔:ta 轮:lun 舟:zhou 帆:fan 盾:dun 擎:qing 锐:rui 钧:jun 铠:kai 衡:heng 弘:hong 为:wei 然:ran"
)
"""字号 morphemes with pinyin (for web domains and e-mail addresses); 字号 = first + second (+ second)."""

LATIN_LETTERS = "ABCDEFGHJKLMNPRSTUWXYZ"
"""Letters for Latin 字号 (``ABC科技``): a minority of names, whose full-width forms are a classic drift."""

HOMOPHONES: dict[str, str] = {
    "星": "兴",
    "河": "和禾",
    "华": "化桦",
    "宏": "洪鸿弘",
    "恒": "衡",
    "金": "今锦",
    "瑞": "锐睿",
    "鑫": "新欣",
    "博": "柏搏",
    "天": "田添",
    "永": "勇咏",
    "盛": "胜圣",
    "东": "冬",
    "新": "欣鑫",
    "远": "源元",
    "凯": "恺铠",
    "嘉": "佳家",
    "德": "得",
    "信": "新欣",
    "广": "光",
    "正": "政证",
    "明": "鸣铭",
    "晨": "辰臣",
    "兴": "星",
    "隆": "龙",
    "泰": "太",
    "昌": "长常",
    "锦": "金",
    "汇": "惠慧",
    "宇": "雨禹",
    "辉": "晖徽",
    "腾": "滕",
    "联": "连",
    "润": "闰",
    "达": "大",
    "通": "同彤",
    "源": "元园",
    "丰": "峰锋枫",
    "诚": "成城程",
    "航": "杭",
    "禾": "和河",
    "纳": "娜",
    "峰": "丰锋",
    "林": "琳霖",
    "山": "杉珊",
    "晟": "盛胜",
    "祥": "翔详",
    "顺": "舜",
    "利": "力立",
    "力": "利立",
    "成": "诚城",
    "鼎": "顶定",
    "光": "广",
    "阳": "扬洋",
    "云": "运芸",
    "智": "志至",
    "捷": "杰洁",
    "威": "伟维",
    "邦": "帮",
    "佳": "嘉家",
    "泽": "则择",
    "坤": "昆",
    "骏": "俊峻",
    "富": "福",
    "福": "富",
    "同": "通彤",
    "益": "逸毅",
    "众": "中仲",
    "合": "和禾",
    "立": "力利",
    "卓": "琢",
    "越": "悦跃",
    "维": "威唯",
    "启": "琪祺",
    "易": "益亿",
    "优": "悠",
    "乐": "勒",
    "康": "抗",
    "健": "建剑",
    "荣": "容蓉",
    "茂": "贸",
    "昊": "浩皓",
    "睿": "瑞锐",
    "铭": "明鸣",
    "拓": "托",
    "展": "湛",
    "绿": "律",
    "银": "寅",
}
"""Same-pinyin substitutes (星河 → 星和): the typos people make with a pinyin input method."""

_T = (
    "华華 兴興 达達 丰豐 诚誠 汇匯 辉輝 腾騰 联聯 龙龍 宝寶 东東 广廣 万萬 长長 发發 业業 实實 贸貿 网網 络絡 "
    "术術 电電 气氣 设設 备備 机機 产產 药藥 医醫 疗療 环環 农農 饮飲 筑築 装裝 饰飾 运運 输輸 资資 询詢 务務 "
    "国國 际際 团團 责責 乐樂 动動 车車 门門 开開 关關 厂廠 经經 营營 销銷 会會 计計 师師 学學 创創 远遠 恒恆 "
    "云雲 润潤 纳納 鸿鴻 锦錦 凯凱 铭銘 亿億 阳陽 领領 导導 数數 据據 软軟 与與 视視 讯訊 传傳 进進 钢鋼 铁鐵 "
    "铝鋁 属屬 纺紡 织織 区區 县縣 园園 苏蘇 辽遼 宁寧 湾灣 汉漢 庆慶 济濟 贵貴 连連 无無 锡錫 乌烏 齐齊 厦廈 "
    "鑫鑫 盛盛 泰泰 隆隆 顺順 祥祥 鼎鼎 驰馳 迈邁 途途 邦邦 坤坤 骏駿 泽澤 宏宏 晟晟 纸紙 制製 测測 检檢 验驗 "
    "仪儀 热熱 燃燃 质質 监監 测測 养養 殖殖 场場 种種 蔬蔬 织織 体體 职職 训訓 鲁魯 闽閩 粤粵 桂桂 琼瓊 渝渝 "
    "陕陝 甘甘 青青 新新 疆疆 内內 蒙蒙 黑黑 吉吉 江江 浙浙 皖皖 赣贛 豫豫 鄂鄂 湘湘 川川 黔黔 滇滇 藏藏 "
    "设設 计計 规規 划劃 储儲 货貨 代代 冷冷 链鏈 饭飯 馆館 乡鄉 镇鎮 协協 织織 综綜 项項 标標 准準 认認 证證 "
    "咨諮 询詢 询詢 广廣 告告 影影 视視 传傳 媒媒 节節 能能 环環 保保 卫衛 生生 态態 车車 维維 修修 调調 "
    "杨楊 叶葉 刘劉 陈陳 张張 赵趙 吴吳 孙孫 马馬 冯馮 邓鄧 韩韓 郑鄭 罗羅 谢謝 许許 苏蘇 钱錢 顾顧 龚龔 "
    "韦韋 贺賀 汤湯 严嚴 万萬 达達 伟偉 红紅 军軍 丽麗 宁寧 强強 刚剛 涛濤 颖穎 婷婷 鹏鵬 飞飛 晓曉 "
    "优優 时時 标標 单單 应應 对對 电電 压壓 钢鋼 銷銷 贸貿 药藥 务務 车車 业業"
)
TRADITIONAL: dict[str, str] = {pair[0]: pair[1] for pair in _T.split() if pair[0] != pair[1]}
"""A small simplified → traditional table covering the characters the generator uses (for drift only)."""


@dataclass(frozen=True, slots=True)
class Trade:
    """An industry (GB/T 4754 division) and the words companies in it put in their names."""

    code: str
    words: tuple[str, ...]
    weight: int


TRADES: tuple[Trade, ...] = tuple(
    Trade(code, tuple(words.split("/")), int(weight))
    for code, words, weight in (
        line.split()
        for line in """
        I65 科技/信息技术/软件/网络科技/数据科技/智能科技/信息科技 110
        I64 网络科技/互联网科技/信息服务 30
        I63 通信/通信技术/通讯 10
        C39 电子/电子科技/通信设备/光电科技 35
        C38 电气/电器/新能源科技/电力设备 25
        C34 机械/机械设备/动力设备/通用机械 25
        C35 专用设备/医疗器械/环保设备 20
        C36 汽车零部件/汽车配件 15
        C33 金属制品/五金制品 15
        C29 塑料制品/橡胶制品/塑胶 12
        C26 化工/化学品/精细化工 15
        C27 药业/制药/生物医药 15
        C13 农产品加工/粮油 8
        C14 食品 12
        C15 饮料/酒业/茶业 8
        C17 纺织 10
        C18 服饰/服装 12
        C22 纸业/包装 6
        C30 建材/新型建材/陶瓷 10
        C31 钢铁/特钢 4
        C40 仪器仪表/仪器 8
        D44 电力/新能源/能源 8
        D45 燃气 3
        E47 建设/建筑工程 25
        E48 路桥工程/市政工程 12
        E50 装饰工程/建筑装饰 20
        F51 贸易/商贸/进出口/供应链管理/国际贸易/物资 120
        F52 商业/超市/百货 25
        G54 运输/物流/汽车运输 25
        G58 国际货运代理/物流 15
        G59 仓储/仓储服务 6
        H61 酒店管理/酒店 8
        H62 餐饮管理/餐饮 15
        K70 房地产开发/置业/物业管理 25
        L71 租赁/设备租赁 8
        L72 投资/投资管理/企业管理/咨询/商务咨询/人力资源/广告 70
        M73 生物技术/技术研究 8
        M74 工程设计/检测技术/测绘 15
        M75 科技发展/技术服务 25
        N77 环保科技/环境工程 10
        O80 家政服务/保洁服务 4
        O81 汽车维修/汽车服务 6
        R87 影视文化/文化传媒/传媒 12
        R89 体育发展/体育文化 3
        A01 农业开发/农业科技/生态农业 8
        A03 牧业/畜牧 3
        A04 水产 2
        """.strip().splitlines()
    )
)
"""Divisions (GB/T 4754-2017) with name words and relative frequency among enterprises."""

TRADE_WEIGHTS: tuple[int, ...] = tuple(t.weight for t in TRADES)

ENTERPRISE_FORMS: tuple[tuple[str, int], ...] = (
    ("有限公司", 70),
    ("有限责任公司", 15),
    ("股份有限公司", 10),
    ("集团有限公司", 5),
)

SHOPS: tuple[tuple[str, str], ...] = (
    ("便利店", "F52"),
    ("餐馆", "H62"),
    ("商行", "F51"),
    ("五金店", "F52"),
    ("服装店", "F52"),
    ("汽车修理部", "O81"),
    ("建材经营部", "F51"),
    ("茶叶店", "F52"),
    ("小吃店", "H62"),
    ("美发店", "O80"),
)
"""个体工商户 (``92…``) shop words and their divisions."""

COOPERATIVES: tuple[tuple[str, str], ...] = (
    ("蔬菜种植", "A01"),
    ("果蔬", "A01"),
    ("水稻种植", "A01"),
    ("茶叶种植", "A01"),
    ("生猪养殖", "A03"),
    ("肉牛养殖", "A03"),
    ("水产养殖", "A04"),
)
"""农民专业合作社 (``93…``) lines of business."""

INSTITUTIONS_NAMED: tuple[tuple[str, str, str], ...] = (
    ("", "小学", "P83"),
    ("", "中学", "P83"),
    ("", "幼儿园", "P83"),
    ("", "医院", "Q84"),
    ("职业技术", "学院", "P83"),
)
"""事业单位 (``12…``) with a proper name (杭州市西湖区文新小学 → region + 字号 + unit): field, unit, division."""

INSTITUTIONS_LOCAL: tuple[tuple[str, str, str], ...] = (
    ("疾病预防控制", "中心", "Q84"),
    ("环境监测", "站", "N77"),
    ("妇幼保健", "院", "Q84"),
    ("人民", "医院", "Q84"),
    ("图书", "馆", "R88"),
    ("文化", "馆", "R88"),
    ("档案", "馆", "R88"),
    ("不动产登记", "中心", "S92"),
    ("公共资源交易", "中心", "S92"),
    ("社会保险事业管理", "中心", "S94"),
    ("农业技术推广", "中心", "M75"),
    ("产品质量监督检验", "所", "M74"),
    ("建筑设计", "院", "M74"),
    ("信息", "中心", "I65"),
)
"""事业单位 that exist once per district (上海市浦东新区疾病预防控制中心): field, unit, division."""

NON_PROFITS: tuple[tuple[str, str, str], ...] = (
    ("职业技能", "培训学校", "P83"),
    ("外国语", "培训学校", "P83"),
    ("", "养老服务中心", "Q85"),
    ("", "幼儿园", "P83"),
    ("", "康复中心", "Q84"),
    ("社会工作", "服务中心", "Q85"),
)
"""民办非企业单位 (``52…``): field, unit word, division."""


@dataclass(frozen=True, slots=True)
class NameParts:
    """A name in parts; `render` joins them. ``bracketed`` puts the region in brackets before ``form``."""

    region: str
    zihao: str
    trade: str
    form: str
    bracketed: bool = False
    branch: str = ""

    def render(self, open_: str = "（", close: str = "）") -> str:
        """The name as one string."""
        if self.bracketed and self.region:
            return f"{self.zihao}{self.trade}{open_}{self.region}{close}{self.form}{self.branch}"
        return f"{self.region}{self.zihao}{self.trade}{self.form}{self.branch}"


def zihao(rng: random.Random) -> tuple[str, str]:
    """(字号, pinyin): mostly two morphemes, some three, a few Latin letters."""
    r = rng.random()
    if r < 0.025:
        z = "".join(rng.choice(LATIN_LETTERS) for _ in range(rng.choice((2, 3, 3, 4))))
        return z, z.lower()
    a = rng.choice(ZIHAO_FIRST)
    b = rng.choice(ZIHAO_SECOND)
    while b[0] == a[0]:
        b = rng.choice(ZIHAO_SECOND)
    if r < 0.12:
        c = rng.choice(ZIHAO_SECOND)
        while c[0] in (a[0], b[0]):
            c = rng.choice(ZIHAO_SECOND)
        return a[0] + b[0] + c[0], a[1] + b[1] + c[1]
    return a[0] + b[0], a[1] + b[1]


def region_prefix(rng: random.Random, city: City, district: str | None = None) -> str:
    """The 行政区划 part as companies write it: 北京 / 北京市 / 深圳市 / 深圳 / 广东 / 广东省."""
    if district:
        return city.name + district
    r = rng.random()
    if city.municipality:
        return city.short if r < 0.75 else city.name
    if r < 0.55:
        return city.name
    if r < 0.85:
        return city.short
    return city.province_short if r < 0.93 else city.province


DRIFTS: tuple[str, ...] = (
    "bracket_region",
    "form_synonym",
    "width",
    "traditional",
    "homophone",
    "no_region",
    "region_expand",
    "short_name",
    "blank",
)
"""Drift operations; each leaves the name recognisable to a good normaliser (domain.md §10)."""


def _fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def _halfwidth(s: str) -> str:
    return "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in s)


def to_traditional(s: str) -> str:
    """Convert the characters the table knows; the rest stay simplified (as real mixed data does)."""
    return "".join(TRADITIONAL.get(c, c) for c in s)


def homophone_typo(rng: random.Random, word: str) -> str:
    """Replace one character of ``word`` by a same-pinyin character, if any has one."""
    positions = [i for i, c in enumerate(word) if c in HOMOPHONES]
    if not positions:
        return word
    i = rng.choice(positions)
    return word[:i] + rng.choice(HOMOPHONES[word[i]]) + word[i + 1 :]


def apply_drift(rng: random.Random, parts: NameParts, op: str, city: City) -> str:
    """Render ``parts`` with one drift operation applied."""
    p = parts
    brackets = ("（", "）") if rng.random() < 0.5 else ("(", ")")
    if op == "bracket_region":
        if not p.form.endswith("公司"):
            return p.render("(", ")")
        if p.bracketed:
            return replace(p, bracketed=False).render()
        if not p.region or not p.zihao:
            return p.render("(", ")")
        return replace(p, bracketed=True, region=city.short).render(*brackets)
    if op == "form_synonym":
        swaps = {
            "有限公司": "有限责任公司",
            "有限责任公司": "有限公司",
            "集团有限公司": "集团有限责任公司",
            "股份有限公司": "股份公司",
            "集团股份有限公司": "集团股份公司",
        }  # 股份公司: how people shorten it
        return replace(p, form=swaps.get(p.form, p.form)).render(*brackets)
    if op == "width":
        text = p.render()
        half = _halfwidth(text)
        if half != text:
            return half
        if any("!" <= c <= "~" for c in text):
            return _fullwidth(text)
        # nothing to fold: write the region in half-width brackets, the usual width variant of the name
        if p.region and p.zihao:
            return replace(p, bracketed=True, region=city.short).render("(", ")")
        return text
    if op == "traditional":
        return to_traditional(p.render())
    if op == "homophone":
        if p.zihao and not p.zihao.isascii():
            return replace(p, zihao=homophone_typo(rng, p.zihao)).render()
        return replace(p, trade=homophone_typo(rng, p.trade)).render()
    if op == "no_region":
        return replace(p, region="").render() if p.zihao else p.render()
    if op == "region_expand":
        if city.municipality or not p.region or p.bracketed:
            return replace(p, region=city.name if p.region != city.name else city.short).render()
        return replace(p, region=city.province + city.name).render()
    if op == "short_name":
        if not p.zihao or p.branch:
            return p.render()
        # a group keeps 集团 in its short name (星河科技集团): without it the name is its subsidiary's
        return p.zihao + p.trade + ("集团" if "集团" in p.form else "")
    if op == "blank":
        text = p.render()
        i = rng.randrange(1, len(text))
        return text[:i] + rng.choice((" ", " ", "\u3000")) + text[i:]
    raise ValueError(f"unknown drift {op!r}; known: {', '.join(DRIFTS)}")


def drifted_name(
    rng: random.Random, parts: NameParts, city: City, *, rate: float, weights: tuple[int, ...]
) -> tuple[str, tuple[str, ...]]:
    """The name one system holds: exact with probability ``1 - rate``, else one or two drift operations.

    Returns (name, operations applied) so tests can check the drift rates the docstrings promise.
    """
    if rng.random() >= rate:
        return parts.render(), ()
    ops = [rng.choices(DRIFTS, weights=weights)[0]]
    if rng.random() < 0.12:
        second = rng.choices(DRIFTS, weights=weights)[0]
        if second not in ops and second in ("width", "traditional", "form_synonym"):
            ops.append(second)
    name = apply_drift(rng, parts, ops[0], city)
    for op in ops[1:]:
        if op == "width":
            name = _halfwidth(name) if _halfwidth(name) != name else _fullwidth(name)
        elif op == "traditional":
            name = to_traditional(name)
        elif op == "form_synonym":
            if "股份有限公司" in name:
                name = name.replace("股份有限公司", "股份公司")
            elif "有限责任公司" in name:
                name = name.replace("有限责任公司", "有限公司")
            else:
                name = name.replace("有限公司", "有限责任公司")
    return name, tuple(ops)
