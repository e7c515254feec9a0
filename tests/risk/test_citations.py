"""Issue 13 item 3: the rules cited are the current ones, and every rule parameter says where it comes from.

The large-value and suspicious-transaction reporting rules are PBOC Order 〔2016〕第3号 (in force 2017-07-01, as
amended by 〔2018〕第2号); the 2006 Measures they replaced must not be cited as the rule anywhere — alert
evidence, templates, docs or config. Every threshold and rule parameter in the shipped config files carries a
``source:`` comment, and the two copies of the scorecard stay identical.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from crmhub.risk.alerts import rules

ROOT = Path(__file__).resolve().parents[2]
OLD = re.compile(r"〔2006〕|\[2006\]|2006\s*(?:年)?\s*第\s*2\s*号|Order\s*2006|2006\s*No\.?\s*2")
REPLACED = re.compile(r"replac|repeal|废止|替代|取代")


def _texts() -> list[Path]:
    roots = [ROOT / d for d in ("src", "plugins", "docs", "config")] + [ROOT / "README.md"]
    files: list[Path] = []
    for root in roots:
        files += (
            [root]
            if root.is_file()
            else [
                p
                for p in root.rglob("*")
                if p.is_file() and p.suffix in (".py", ".md", ".toml", ".j2", ".html", ".txt", ".json")
            ]
        )
    return files


def test_no_file_cites_the_repealed_2006_measures_as_the_rule() -> None:
    cited = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in _texts()
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OLD.search(line) and not REPLACED.search(line)
    ]
    assert cited == []


def test_alert_evidence_cites_the_2016_order_as_amended() -> None:
    for zh, en in (
        (rules.REGULATION_LARGE, rules.REGULATION_LARGE_EN),
        (rules.REGULATION_SUSPICIOUS, rules.REGULATION_SUSPICIOUS_EN),
    ):
        assert "中国人民银行令〔2016〕第3号" in zh and "〔2018〕第2号修改" in zh and not OLD.search(zh)
        assert "PBOC Order [2016] No. 3, as amended" in en and "2006" not in en
    assert "示例" in rules.REGULATION_SUSPICIOUS and "illustrative" in rules.REGULATION_SUSPICIOUS_EN


def _keys_without_source(path: Path) -> list[str]:
    """``table.key`` of every assignment under [risk.alerts*] with no ``source:`` comment on its line."""
    table, missing = "", []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            table = stripped.strip("[]").split("]")[0].strip()
            continue
        if table.startswith("risk") and re.match(r"^[a-z_]+\s*=", stripped) and "source:" not in line:
            missing.append(f"{table}.{stripped.split('=')[0].strip()}")
    return missing


@pytest.mark.parametrize("name", ["config/crmhub.toml", "src/crmhub/data/crmhub.example.toml"])
def test_every_risk_parameter_in_crmhub_toml_names_its_source(name: str) -> None:
    path = ROOT / name
    assert _keys_without_source(path) == []
    alerts = tomllib.loads(path.read_text(encoding="utf-8"))["risk"]["alerts"]
    assert {"large_value", "structuring", "pass_through", "fan_in", "fan_out", "dormant_reactivation"} <= set(alerts)
    assert "Order, code 0502" in path.read_text(encoding="utf-8")


def test_every_scorecard_parameter_names_its_source_and_the_copies_agree() -> None:
    shipped = (ROOT / "config/scorecard.toml").read_text(encoding="utf-8")
    assert shipped == (ROOT / "src/crmhub/data/scorecard.toml").read_text(encoding="utf-8")
    lines = shipped.splitlines()
    for line in lines:
        if re.match(r"^(weight|missing_points|adverse_below|bins) = ", line):
            assert "source:" in line, line
    for header in ("# --- grades", "# --- segments", "# --- credit policy per segment"):
        at = next(i for i, line in enumerate(lines) if line.startswith(header))
        assert lines[at + 1].startswith("# source:"), header
    assert "〔2023〕No. 1" in shipped and "Basel II §452" in shipped
