"""USCC validation per GB 32100-2015, cross-checked against python-stdnum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from crmhub import CorporateClient
from crmhub.model import uscc

VALID = [
    "91110000600037341L",
    "9144030071526726XG",
    "91110000710926094P",
    "91310000631696382C",
    "91310115MA1K3BTP2B",
    "91350100M000100Y43",
    "121200004013590816",
]
LETTER_FIRST = ["Y1110000MA0000007H", "N2350100MA0000007R", "A1110000MA00000076"]


@pytest.mark.parametrize("code", VALID + LETTER_FIRST)
def test_valid_codes_pass(code: str) -> None:
    """Real and synthetic valid codes validate and round-trip."""
    assert uscc.validate(code) == code
    assert CorporateClient(name="某公司", uscc=code).uscc == code


@pytest.mark.parametrize("code", LETTER_FIRST)
def test_letter_first_codes_accepted_although_stdnum_rejects_them(code: str) -> None:
    """python-stdnum wrongly rejects letter-first codes; crmhub accepts them."""
    assert uscc.is_valid(code)
    assert not stdnum_uscc.is_valid(code)


@pytest.mark.parametrize("code", VALID[:3])
def test_every_single_substitution_is_rejected(code: str) -> None:
    """Changing any one character of a valid code makes it invalid (MOD 31-3 detects single substitutions)."""
    for pos in range(18):
        for ch in uscc.ALPHABET:
            if ch == code[pos]:
                continue
            changed = code[:pos] + ch + code[pos + 1 :]
            assert not uscc.is_valid(changed), changed


def test_error_names_the_wrong_check_character() -> None:
    """A checksum mismatch says which character was found and which was expected."""
    with pytest.raises(uscc.UsccError) as info:
        uscc.validate("91110000600037342L")
    assert "check character is 'L', expected 'P'" in str(info.value)


def test_client_with_a_bad_check_character_is_kept_with_a_finding() -> None:
    """Issue 13 item 9: the client is kept; the code is an unverified, flagged value, never the USCC."""
    client = CorporateClient(name="北京某公司", uscc="91110000600037342l")
    assert client.uscc is None and client.uscc_unverified == "91110000600037342L"
    [finding] = client.data_quality
    assert (finding.field, finding.kind, finding.value) == ("uscc", "uscc_check", "91110000600037342L")
    assert "check character is 'L', expected 'P'" in finding.message
    again = CorporateClient.model_validate(client.model_dump(mode="json"))  # stored and re-read: no duplicate
    assert again.data_quality == client.data_quality and again.uscc_unverified == client.uscc_unverified


@pytest.mark.parametrize(
    ("raw", "kind", "evidence"),
    [
        ("91110000600037O41L", "uscc_format", "91110000600037O41L"),  # O for 0: still one edit from the real code
        ("110108000123456", "uscc_length", None),  # a 15-digit 工商注册号 in the USCC field: no use for matching
    ],
)
def test_malformed_codes_are_findings_too(raw: str, kind: str, evidence: str | None) -> None:
    client = CorporateClient(name="北京某公司", uscc=raw)
    assert client.uscc is None and client.uscc_unverified == evidence
    assert [f.kind for f in client.data_quality] == [kind]


@pytest.mark.parametrize(
    "typed",
    [
        "９１１１００００６００ ０３７３４１ｌ",  # full-width digits and letter, ideographic space
        "9111-0000－6000 3734 1l",  # ASCII and full-width hyphens, spaces, lower case
        " 91110000600037341l\t",
    ],
)
def test_full_width_and_lower_case_are_folded_before_validation(typed: str) -> None:
    """Issue 13 item 9: NFKC + upper case + separators removed, everywhere a USCC enters."""
    assert uscc.compact(typed) == "91110000600037341L"
    assert uscc.validate(typed) == "91110000600037341L"
    assert CorporateClient(name="某公司", uscc=typed).uscc == "91110000600037341L"


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91110000600037O41L", "position 15: character 'O' not allowed (I, O, Z, S, V are never used)"),
        ("9111000060003734", "has 16 characters, expected 18"),
        ("91110000600037341l", None),
    ],
)
def test_messages_name_position_or_length(code: str, fragment: str | None) -> None:
    """Bad characters are named by position; wrong lengths by count; lower case is compacted, not rejected."""
    if fragment is None:
        assert uscc.validate(code) == code.upper()
        return
    with pytest.raises(uscc.UsccError) as info:
        uscc.validate(code)
    assert fragment in str(info.value)


def test_only_name_and_uscc_make_a_valid_client() -> None:
    """CorporateClient(name=…, uscc=…) alone is a valid record."""
    client = CorporateClient(name="北京星河科技有限公司", uscc="91110000600037341L")
    assert client.id is None and client.contacts == [] and client.external_ids == {}


def test_embedded_org_code_check_is_a_warning_only() -> None:
    """A code whose GB 11714 part fails is still valid, with a warning."""
    assert uscc.is_valid("Y1110000MA0000000U")
    assert any("position 17" in w for w in uscc.warnings("Y1110000MA0000000U"))
    assert uscc.warnings("91110000600037341L") == []


_body = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8)


@given(prefix=st.sampled_from(["91110000", "91310115", "92440300", "12120000", "52350100"]), body=_body)
def test_agrees_with_stdnum_on_digit_first_codes(prefix: str, body: str) -> None:
    """For codes whose first 8 characters are digits, crmhub and python-stdnum agree on validity."""
    code = uscc.make(prefix, body)
    assert uscc.is_valid(code) and stdnum_uscc.is_valid(code)
    broken = code[:17] + ("0" if code[17] != "0" else "1")
    assert uscc.is_valid(broken) == stdnum_uscc.is_valid(broken) is False
