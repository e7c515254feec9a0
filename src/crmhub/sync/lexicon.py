"""Word lists for parsing Chinese company names (domain.md §10): legal forms, branch suffixes, industry words.

Kept apart from the pipeline in `crmhub.sync.names` so that a bank can review (and extend) the vocabulary without
reading parsing code. Every list is ordered or matched longest-first by its users.
"""

from __future__ import annotations

__all__ = [
    "BRANCH_SUFFIXES",
    "ENGLISH_FORMS",
    "FORM_CLASSES",
    "INDUSTRY_WORDS",
    "LEGAL_FORMS",
    "QUALIFIERS",
    "WEAK_BRANCH_SUFFIXES",
]

LEGAL_FORMS: tuple[tuple[str, str, bool], ...] = (
    # (written form, canonical form, implies 集团)
    ("集团股份有限公司", "股份有限公司", True),
    ("股份有限公司", "股份有限公司", False),
    ("集团股份公司", "股份有限公司", True),  # 股份公司 is how people shorten 股份有限公司 (issue 13 item 8)
    ("集团有限责任公司", "有限公司", True),
    ("集团有限公司", "有限公司", True),
    ("有限责任公司", "有限公司", False),
    ("有限公司", "有限公司", False),
    ("集团公司", "公司", True),
    ("股份合作公司", "股份合作公司", False),
    ("股份公司", "股份有限公司", False),
    ("公司", "公司", False),
    ("特殊普通合伙", "特殊普通合伙", False),
    ("有限合伙", "有限合伙", False),
    ("普通合伙", "普通合伙", False),
    ("合伙企业", "合伙企业", False),
    ("个人独资企业", "个人独资企业", False),
    ("农民专业合作社", "农民专业合作社", False),
    ("专业合作社", "农民专业合作社", False),
    ("合作社", "农民专业合作社", False),
    ("商行", "商行", False),
    ("事务所", "事务所", False),
    ("厂", "厂", False),
)
"""Legal forms (组织形式) in longest-first order. 有限公司 ≡ 有限责任公司 and 股份公司 ≡ 股份有限公司;
股份有限公司 stays distinct from 有限公司; 集团 is recorded as a flag, not a form — and a distinguishing
one: 星河科技集团有限公司 (the parent) and 星河科技有限公司 (a subsidiary) are separate borrowers, so
`crmhub.sync.scoring` never auto-merges a pair whose 集团 flags differ."""

FORM_CLASSES: dict[str, str] = {
    "股份有限公司": "company",
    "有限公司": "company",
    "公司": "company",
    "股份合作公司": "company",
    "特殊普通合伙": "partnership",
    "有限合伙": "partnership",
    "普通合伙": "partnership",
    "合伙企业": "partnership",
    "个人独资企业": "sole",
    "商行": "sole",
    "农民专业合作社": "cooperative",
    "事务所": "firm",
    "厂": "factory",
}
"""Coarse family of each canonical form: within a family a different form is weak evidence (a 有限公司 may have
become a 股份有限公司), across families it is strong evidence of different entities."""

ENGLISH_FORMS: tuple[tuple[str, str], ...] = (
    ("COMPANYLIMITED", "有限公司"),
    ("COLIMITED", "有限公司"),
    ("COLTD", "有限公司"),
    ("LIMITED", "有限公司"),
    ("LTD", "有限公司"),
    ("LLC", "有限公司"),
    ("GMBH", "有限公司"),
    ("CORPORATION", "公司"),
    ("COMPANY", "公司"),
    ("CORP", "公司"),
    ("INC", "公司"),
    ("PLC", "股份有限公司"),
    ("AG", "股份有限公司"),
    ("CO", "公司"),
)
"""English legal forms, compared after whitespace and punctuation are dropped (``Co., Ltd.`` → ``COLTD``)."""

BRANCH_SUFFIXES: tuple[str, ...] = (
    "分公司",
    "分行",
    "支行",
    "营业部",
    "办事处",
    "代表处",
    "分厂",
    "分店",
    "经营部",
    "分部",
    "分所",
)
"""Suffixes that make a name a branch (分支机构). A branch has its own USCC and is never merged into its parent."""

WEAK_BRANCH_SUFFIXES: frozenset[str] = frozenset({"经营部", "分店", "分部"})
"""Branch suffixes that are also ordinary business names: 天润隆建材经营部 is a 个体工商户 of its own. They mark a
branch only after a parent's legal form (星河科技有限公司朝阳经营部)."""

QUALIFIERS: tuple[str, ...] = ("中国", "国际", "控股")
"""Words kept as separate tokens after the 字号 (西门子(中国) → 西门子 + 中国): meaningful, but not the 字号."""

INDUSTRY_WORDS: tuple[str, ...] = tuple(
    sorted(
        set(
            (
                "科技", "技术", "信息技术", "信息科技", "网络科技", "网络技术", "网络", "信息", "软件", "数据",
                "智能", "电子", "电子商务", "电子科技", "通信", "通讯", "互联网", "云计算", "大数据", "人工智能",
                "数字", "数码", "微电子", "半导体", "光电", "光电子", "电器", "电气", "电力", "电子设备", "自动化",
                "系统", "集成", "系统集成", "贸易", "商贸", "工贸", "国际贸易", "进出口", "外贸", "经贸", "实业",
                "投资", "投资管理", "投资咨询", "股权投资", "创业投资", "资产管理", "资产", "资本", "基金", "控股",
                "发展", "科技发展", "咨询", "管理", "企业管理", "管理咨询", "服务", "商务", "商务服务", "技术服务",
                "物业", "物业管理", "物流", "供应链", "运输", "货运", "航运", "快递", "仓储", "建设", "建筑", "工程",
                "建设工程", "建筑工程", "装饰", "装饰工程", "建材", "房地产", "房地产开发", "置业", "地产", "开发",
                "城市建设", "医药", "生物", "生物科技", "生物技术", "制药", "医疗", "医疗器械", "器械", "健康",
                "卫生", "新材料", "材料", "能源", "新能源", "环保", "环境", "环境科技", "节能", "化工", "化学",
                "石化", "机械", "设备", "机电", "制造", "精密", "仪器", "仪表", "汽车", "汽车销售", "汽车服务",
                "汽配", "食品", "餐饮", "饮料", "酒业", "农业", "农产品", "牧业", "渔业", "林业", "种业", "水产",
                "文化", "文化传媒", "传媒", "广告", "影视", "娱乐", "体育", "教育", "培训", "出版", "印刷", "包装",
                "塑料", "橡胶", "纺织", "服装", "服饰", "鞋业", "家具", "家居", "五金", "钢铁", "金属", "有色金属",
                "矿业", "煤业", "煤炭", "石油", "燃气", "水务", "金融", "保险", "证券", "银行", "担保", "租赁",
                "融资租赁", "典当", "信托", "期货", "会计", "会计师", "律师", "酒店", "旅游", "旅行社", "物资",
                "商业", "百货", "超市", "零售", "批发", "销售", "电商", "珠宝", "化妆品", "日用品", "玩具", "工艺品",
                "工艺", "艺术", "设计", "规划", "测绘", "勘察", "检测", "认证", "安全", "安防", "消防", "人力资源",
                "劳务", "信用", "征信", "通用", "航空", "船舶", "海洋", "港口", "铁路", "交通", "市政", "园林",
                "绿化", "景观", "水利", "电子信息", "信息服务", "软件开发", "网络信息", "创新", "产业", "工业",
                "产业园",
            )
        ),
        key=len,
        reverse=True,
    )
)
"""行业/经营特点 words (longest first). They follow the 字号; frequent ones are down-weighted by the matcher's
term-frequency adjustment, so the list need not be complete — an unknown industry word just stays in the 字号."""
