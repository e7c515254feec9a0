"""Value types shared by every canonical record: `Uscc`, `Money`, `Industry`, `Address`, sensitive strings.

Validation happens here, at the boundary; the rest of crmhub trusts these typed values.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    WrapSerializer,
    field_validator,
    model_validator,
)

from crmhub.model import industry as _industry
from crmhub.model import uscc as _uscc
from crmhub.model.text import EMAIL_MAX, NAME_MAX, PHONE_MAX, Label, Street, line_text


def _check_uscc(value: str) -> str:
    try:
        return _uscc.validate(value)
    except _uscc.UsccError as exc:
        raise ValueError(str(exc)) from None


Uscc = Annotated[str, AfterValidator(_check_uscc)]
"""A validated, compacted 18-character USCC (GB 32100-2015)."""


class Frozen(BaseModel):
    """Base for canonical value objects: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Money(Frozen):
    """An amount in one ISO 4217 currency; Decimal, never float."""

    amount: Decimal
    currency: str = "CNY"

    @field_validator("amount", mode="before")
    @classmethod
    def _decimal(cls, v: Any) -> Any:
        if isinstance(v, float):
            return Decimal(repr(v))
        if isinstance(v, str):
            try:
                return Decimal(v.replace(",", "").strip())
            except InvalidOperation:
                raise ValueError(f"amount {v!r} is not a number") from None
        return v

    @field_validator("currency")
    @classmethod
    def _iso4217(cls, v: str) -> str:
        code = v.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError(f"currency {v!r} is not an ISO 4217 code (three letters, e.g. CNY, USD)")
        return code

    def __str__(self) -> str:
        return f"{self.amount:,} {self.currency}"


class Industry(Frozen):
    """A GB/T 4754-2017 industry: canonical code plus labels derived from it."""

    code: str = Field(description="Section letter + optional 2-4 digits, e.g. 'C', 'C39', 'C3911'.")
    name_zh: str = ""
    name_en: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_code(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"code": data}
        if isinstance(data, dict) and "code" in data:
            try:
                code = _industry.normalize_code(str(data["code"]))
            except _industry.IndustryCodeError as exc:
                raise ValueError(str(exc)) from None
            zh, en = _industry.labels(code)
            data = {**data, "code": code, "name_zh": data.get("name_zh") or zh, "name_en": data.get("name_en") or en}
        return data

    @property
    def section(self) -> str:
        """The section letter (门类)."""
        return self.code[0]

    @property
    def division(self) -> str | None:
        """The two-digit division (大类), if known."""
        return self.code[1:3] or None


class Address(Frozen):
    """A structured Chinese (or foreign) address; `division_code` is GB/T 2260 where known."""

    country: Label = "CN"
    province: Label | None = None
    city: Label | None = None
    district: Label | None = None
    street: Street | None = None
    postcode: Label | None = None
    division_code: str | None = Field(default=None, pattern=r"^\d{6}$")

    def one_line(self) -> str:
        """The address as one line, largest unit first (Chinese order)."""
        parts = [self.province, self.city, self.district, self.street]
        return "".join(p for p in parts if p)


def _mask_on_request(kind: str) -> WrapSerializer:
    def serialize(value: str, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> str:
        context = info.context
        if isinstance(context, dict) and context.get("mask"):
            from crmhub.masking import mask

            return mask(value, kind)
        out: str = handler(value)
        return out

    return WrapSerializer(serialize, when_used="always")


SensitiveIdNumber = Annotated[
    str, line_text(64), _mask_on_request("id_number"), Field(json_schema_extra={"sensitive": "id_number"})
]
"""A personal ID number: stored in clear, masked whenever a model is dumped with ``context={"mask": True}``."""
SensitivePhone = Annotated[
    str, line_text(PHONE_MAX), _mask_on_request("phone"), Field(json_schema_extra={"sensitive": "phone"})
]
"""A personal phone number, masked 3+4 in reports and messages."""
SensitiveAccount = Annotated[
    str, line_text(64), _mask_on_request("account"), Field(json_schema_extra={"sensitive": "account"})
]
"""A bank account number (ledger_account.account_no is VARCHAR(64)), masked 6+4 in reports and messages."""
SensitiveName = Annotated[
    str, line_text(NAME_MAX), _mask_on_request("name"), Field(json_schema_extra={"sensitive": "name"})
]
"""A natural person's name, masked to surname + ``*`` (张三 → 张*, 欧阳娜娜 → 欧阳**)."""
SensitiveEmail = Annotated[
    str, line_text(EMAIL_MAX), _mask_on_request("email"), Field(json_schema_extra={"sensitive": "email"})
]
"""A person's e-mail address, masked to ``z***@example.com``."""
CompanyPhone = Annotated[
    str,
    line_text(PHONE_MAX),
    _mask_on_request("company_phone"),
    Field(json_schema_extra={"sensitive": "company_phone"}),
]
"""A company's phone: a switchboard number stays readable, a mobile number is somebody's and is masked 3+4."""
CompanyEmail = Annotated[
    str,
    line_text(EMAIL_MAX),
    _mask_on_request("company_email"),
    Field(json_schema_extra={"sensitive": "company_email"}),
]
"""A company's e-mail: ``info@company`` stays readable, an address at a free-mail provider is masked."""
