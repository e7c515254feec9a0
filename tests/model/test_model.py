"""The canonical model: money, industries, masking of sensitive fields, ratings and classes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from crmhub import CorporateClient, Industry, LoanClass, Money, Rating
from crmhub.masking import mask, mask_text


def test_money_is_decimal_and_iso4217() -> None:
    """Floats become exact decimals; currency codes are checked."""
    assert Money(amount=0.1).amount == Decimal("0.1")
    assert Money(amount="1,234.50", currency="usd").currency == "USD"
    with pytest.raises(ValidationError, match="ISO 4217"):
        Money(amount=1, currency="RMBX")


@pytest.mark.parametrize(
    ("raw", "code", "section"),
    [
        ("C3011", "C3011", "C"),
        ("3011", "C3011", "C"),
        ("i65", "I65", "I"),
        ("K", "K", "K"),
        ("70", "K70", "K"),
    ],
)
def test_industry_codes_normalise(raw: str, code: str, section: str) -> None:
    """GB/T 4754 codes in the wild become letter + digits, with labels."""
    ind = Industry.model_validate(raw)
    assert (ind.code, ind.section) == (code, section)
    assert ind.name_zh and ind.name_en


def test_industry_contradiction_is_rejected() -> None:
    """A section letter that contradicts the division is an error saying which section is right."""
    with pytest.raises(ValidationError, match="belongs to section C"):
        Industry.model_validate("A3011")


def test_sensitive_fields_masked_on_request_only() -> None:
    """ID numbers and phones are masked in dumps for reports, kept in clear for the store."""
    c = CorporateClient(
        name="某公司", legal_representative={"name": "张三", "id_number": "11010519491231002X", "phone": "13812341234"}
    )
    masked = c.model_dump(mode="json", context={"mask": True})["legal_representative"]
    clear = c.model_dump(mode="json")["legal_representative"]
    assert masked["id_number"] == "1****************X" and masked["phone"] == "138****1234"
    assert clear["id_number"] == "11010519491231002X"


def test_mask_text_masks_people_not_companies() -> None:
    """Free text loses phones, ID numbers and account numbers but keeps USCCs readable."""
    text = mask_text("张三 13812341234 11010519491231002X 账户 6222020200112233445 USCC 121200004013590816")
    assert "13812341234" not in text and "138****1234" in text
    assert "11010519491231002X" not in text
    assert "6222020200112233445" not in text
    assert "121200004013590816" in text
    assert mask("zhang@bank.example", "email") == "z***@bank.example"


def test_rating_alias_and_loan_floors() -> None:
    """Ratings have a 1-10 alias; DPD floors follow the five-category rule."""
    assert Rating.AAA.numeric == 1 and Rating.D.numeric == 10 and Rating.from_numeric(6) is Rating.B
    assert LoanClass.floor_for_dpd(0) is LoanClass.PASS
    assert LoanClass.floor_for_dpd(1) is LoanClass.SPECIAL_MENTION
    assert LoanClass.floor_for_dpd(120) is LoanClass.SUBSTANDARD
    assert LoanClass.floor_for_dpd(300) is LoanClass.DOUBTFUL
    assert LoanClass.floor_for_dpd(400) is LoanClass.LOSS
    assert LoanClass.SUBSTANDARD.is_npl and not LoanClass.SPECIAL_MENTION.is_npl


def test_unknown_fields_are_rejected() -> None:
    """The canonical record rejects keys it does not know, so mapping typos surface."""
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CorporateClient(name="x", nmae="y")  # type: ignore[call-arg]
