"""Labelled populations for matcher quality tests and the benchmark.

`drifted_population` builds its own small world by the rules of domain.md §10, independent of
`crmhub.sandbox.world` so the matcher is also checked against drift it was not co-designed with: a ledger record
per company plus CRM records whose names drift (bracketed region, form synonym, width, traditional characters,
homophone typo, dropped or expanded region, blanks), USCCs missing or mistyped, phones stale — and, to test
precision, the hard negatives real books contain: sister companies (same 字号 and city, other industry, often the
same boss and switchboard), namesakes in other cities, and branches carrying the parent's name.

`world_records` turns a `crmhub.sandbox.world.World` into the records a connector would hand the matcher.
`pairwise_quality` scores clusters against the ground truth (pairwise precision and recall).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from math import comb
from typing import Any

import opencc

from crmhub.model import uscc as uscc_mod
from crmhub.sync.matching import MatchRecord

CITIES = (
    # short, full, province, code, area code
    ("北京", "北京市", "北京市", "110000", "010"),
    ("上海", "上海市", "上海市", "310000", "021"),
    ("深圳", "深圳市", "广东省", "440300", "0755"),
    ("广州", "广州市", "广东省", "440100", "020"),
    ("杭州", "杭州市", "浙江省", "330100", "0571"),
    ("南京", "南京市", "江苏省", "320100", "025"),
    ("成都", "成都市", "四川省", "510100", "028"),
    ("武汉", "武汉市", "湖北省", "420100", "027"),
    ("苏州", "苏州市", "江苏省", "320500", "0512"),
    ("天津", "天津市", "天津市", "120000", "022"),
)
ZIHAO_A = "华星宏恒金瑞鑫博天永盛东新远凯嘉海德信安广万正明晨兴隆泰昌锦汇宇辉腾联润九百同大富顺鸿佳诚银云蓝青"
ZIHAO_B = "达通源丰远诚泰盛信创航瑞禾纳润宇辉腾拓联峰华星河海林森川山晟昌隆祥安康顺利发兴鑫力成天鼎恒德"
INDUSTRIES = ("科技", "贸易", "实业", "投资", "网络科技", "信息技术", "建设", "物流", "医药", "电子", "商贸", "咨询")
FORMS = ("有限公司",) * 7 + ("有限责任公司",) * 2 + ("股份有限公司",)
HOMOPHONES = {
    "星": "兴",
    "河": "和",
    "华": "化",
    "宏": "洪",
    "恒": "衡",
    "金": "今",
    "瑞": "锐",
    "鑫": "新",
    "天": "田",
    "东": "冬",
    "远": "源",
    "嘉": "佳",
    "明": "鸣",
    "晨": "辰",
    "隆": "龙",
    "泰": "太",
    "昌": "长",
    "汇": "惠",
    "宇": "雨",
    "辉": "晖",
    "腾": "滕",
    "联": "连",
    "达": "大",
    "通": "同",
    "丰": "峰",
    "诚": "成",
    "航": "杭",
    "林": "琳",
    "山": "杉",
    "祥": "翔",
    "顺": "舜",
    "利": "力",
    "康": "抗",
    "博": "柏",
    "盛": "胜",
    "凯": "恺",
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建文玉兰红志海波宇浩鹏辉婷雪琳晨欣佳俊峰斌凯颖"
DRIFTS = ("bracket", "form", "width", "traditional", "homophone", "no_region", "expand", "blank")

_S2T = opencc.OpenCC("s2t")


@dataclass
class _Company:
    key: int
    zihao: str
    industry: str
    city: tuple[str, str, str, str, str]
    form: str
    uscc: str
    phone: str
    old_phone: str
    rep: str
    rep_mobile: str
    branch: str = ""
    parent_region: str = ""

    def name(self) -> str:
        region = self.parent_region or self.city[0]
        return f"{region}{self.zihao}{self.industry}{self.form}{self.branch}"


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _companies(n: int, rng: random.Random) -> list[_Company]:
    out: list[_Company] = []
    heads: list[_Company] = []
    taken: set[tuple[str, str, str]] = set()
    for key in range(n):
        city = rng.choice(CITIES)
        zihao = rng.choice(ZIHAO_A) + rng.choice(ZIHAO_B)
        industry = rng.choice(INDUSTRIES)
        rep, mobile = _person(rng), _mobile(rng)
        phone = f"{city[4]}{rng.randrange(2 * 10**7, 9 * 10**7)}"
        branch, parent_region = "", ""
        r = rng.random()
        if out and r < 0.12:  # sister company: same 字号 and city, other industry, often the same boss
            sister = rng.choice(out)
            city, zihao = sister.city, sister.zihao
            industry = rng.choice([i for i in INDUSTRIES if i != sister.industry])
            if rng.random() < 0.5:
                rep, mobile = sister.rep, sister.rep_mobile
            if rng.random() < 0.2:
                phone = sister.phone
        elif out and r < 0.20:  # namesake: same 字号 and industry registered in another city
            other = rng.choice(out)
            zihao, industry = other.zihao, other.industry
            city = rng.choice([c for c in CITIES if c[0] != other.city[0]])
        elif out and r < 0.23:  # branch of an earlier company in another city
            parent = rng.choice(heads)
            zihao, industry = parent.zihao, parent.industry
            city = rng.choice([c for c in CITIES if c[0] != parent.city[0]])
            branch, parent_region = f"{city[0]}分公司", parent.city[0]
        ident = (zihao + industry, city[0], branch)
        if ident in taken:  # registration rules: one name per region and industry
            zihao = rng.choice(ZIHAO_A) + rng.choice(ZIHAO_B) + rng.choice(ZIHAO_B)
            ident = (zihao + industry, city[0], branch)
        taken.add(ident)
        code = uscc_mod.make("91" + city[3], f"{key:08d}")
        company = _Company(
            key,
            zihao,
            industry,
            city,
            rng.choice(FORMS),
            code,
            phone,
            f"{city[4]}{rng.randrange(2 * 10**7, 9 * 10**7)}",
            rep,
            mobile,
            branch,
            parent_region,
        )
        out.append(company)
        if not branch:
            heads.append(company)
    return out


def _fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def _drift(rng: random.Random, c: _Company) -> str:
    op = rng.choice(DRIFTS)
    region = c.parent_region or c.city[0]
    base = f"{c.zihao}{c.industry}"
    if op == "bracket":
        return f"{base}{rng.choice(('（', '('))}{region}{rng.choice(('）', ')'))}{c.form}{c.branch}"
    if op == "form":
        swap = {"有限公司": "有限责任公司", "有限责任公司": "有限公司"}.get(c.form, c.form)
        return f"{region}{base}{swap}{c.branch}"
    if op == "width":
        return f"{base}（{region}）{c.form}{c.branch}" if rng.random() < 0.5 else _fullwidth(c.name())
    if op == "traditional":
        return str(_S2T.convert(c.name()))
    if op == "homophone":
        spots = [i for i, ch in enumerate(c.zihao) if ch in HOMOPHONES]
        if spots:
            i = rng.choice(spots)
            typo = c.zihao[:i] + HOMOPHONES[c.zihao[i]] + c.zihao[i + 1 :]
            return f"{region}{typo}{c.industry}{c.form}{c.branch}"
        return c.name()
    if op == "no_region":
        return f"{base}{c.form}{c.branch}"
    if op == "expand":
        return f"{c.city[2]}{c.city[1]}{base}{c.form}{c.branch}" if not c.parent_region else c.name()
    name = c.name()
    i = rng.randrange(1, len(name))
    return name[:i] + rng.choice((" ", "\u3000")) + name[i:]


def _uscc(rng: random.Random, code: str, missing: float) -> str | None:
    r = rng.random()
    if r < missing:
        return None
    if r < missing + 0.01:
        i = rng.randrange(2, 18)
        return code[:i] + rng.choice([a for a in uscc_mod.ALPHABET if a != code[i]]) + code[i + 1 :]
    if r < missing + 0.03:
        return f"{code[:8]} {code[8:]}"
    return code


def _records(rng: random.Random, c: _Company) -> Iterator[MatchRecord]:
    ledger_name = c.name() if rng.random() < 0.92 else _drift(rng, c)
    yield MatchRecord.build(
        f"ledger:{c.key}",
        "ledger",
        ledger_name,
        uscc=c.uscc if rng.random() > 0.04 else None,
        other_phones=(c.rep_mobile if rng.random() < 0.75 else None,),
    )
    for system, presence, missing in (("zoho", 0.6, 0.22), ("fxiaoke", 0.45, 0.28)):
        if rng.random() >= presence:
            continue
        name = _drift(rng, c) if rng.random() < 0.45 else c.name()
        phone = (c.old_phone if rng.random() < 0.15 else c.phone) if rng.random() < 0.9 else None
        has_rep = rng.random() < 0.65
        yield MatchRecord.build(
            f"{system}:{c.key}",
            system,
            name,
            uscc=_uscc(rng, c.uscc, missing),
            province=c.city[2] if rng.random() < 0.85 else None,
            city=c.city[1] if rng.random() < 0.9 else None,
            phone=phone,
            legal_rep=c.rep if has_rep else None,
            other_phones=(c.rep_mobile if has_rep and rng.random() < 0.8 else None,),
        )


def drifted_population(companies: int, seed: int = 0) -> tuple[list[MatchRecord], dict[str, int]]:
    """(records, ref → company key) for ``companies`` companies drifted per domain.md §10."""
    rng = random.Random(f"crmhub-drift:{seed}")
    records: list[MatchRecord] = []
    truth: dict[str, int] = {}
    for company in _companies(companies, rng):
        for record in _records(rng, company):
            records.append(record)
            truth[record.ref] = company.key
    return records, truth


def world_records(companies: Iterable[Any]) -> Iterator[tuple[MatchRecord, int]]:
    """(record, company key) for every account/client view of `crmhub.sandbox.world` companies.

    Mirrors what the connectors map: CRM accounts carry name, USCC (possibly missing or mistyped), address,
    phone and legal representative (with mobile); ledger clients carry full name, USCC and a mobile.
    """
    for c in companies:
        for view in (c.zoho, c.fxiaoke):
            if view is None:
                continue
            rep = view.legal_representative
            yield (
                MatchRecord.build(
                    f"{view.system}:{view.source_id}",
                    view.system,
                    view.name,
                    uscc=view.uscc,
                    province=view.province,
                    city=view.city,
                    district=view.district,
                    phone=view.phone,
                    legal_rep=rep.name if rep else None,
                    other_phones=(rep.mobile,) if rep else (),
                ),
                c.key,
            )
        if c.ledger is not None:
            v = c.ledger
            yield (
                MatchRecord.build(f"ledger:{v.source_id}", "ledger", v.fullname, uscc=v.uscc, other_phones=(v.mobile,)),
                c.key,
            )


@dataclass(frozen=True)
class Quality:
    """Pairwise quality of a clustering against the truth."""

    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int
    false_pairs: int
    missed_pairs: int


def pairwise_quality(clusters: Iterable[Iterable[str]], truth: dict[str, int]) -> Quality:
    """Pairwise precision/recall: a pair counts when both records are in one cluster (predicted) or one company."""
    predicted = correct = 0
    for members in clusters:
        keys = Counter(truth[ref] for ref in members)
        size = sum(keys.values())
        predicted += comb(size, 2)
        correct += sum(comb(k, 2) for k in keys.values())
    actual = sum(comb(k, 2) for k in Counter(truth.values()).values())
    return Quality(
        precision=correct / predicted if predicted else 1.0,
        recall=correct / actual if actual else 1.0,
        true_pairs=actual,
        predicted_pairs=predicted,
        false_pairs=predicted - correct,
        missed_pairs=actual - correct,
    )
