"""Field metadata of the simulated Accounts and Contacts modules (SDK 7.0.0 catalogue, fact sheet §9).

One table drives four behaviours, so they cannot drift apart: ``settings/fields`` answers, write validation
(``INVALID_DATA`` with ``expected_data_type``, ``MANDATORY_NOT_FOUND``), duplicate checks on unique fields and
the Bulk Read CSV columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmhub_zoho.industry import PICKLIST

JSON_TYPE = {
    "text": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "website": "string",
    "picklist": "string",
    "multiselectpicklist": "jsonarray",
    "date": "string",
    "datetime": "string",
    "integer": "integer",
    "bigint": "string",
    "double": "double",
    "currency": "double",
    "boolean": "boolean",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "autonumber": "string",
    "profileimage": "string",
}


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of a module as ``settings/fields`` describes it."""

    api_name: str
    data_type: str
    label: str = ""
    length: int = 255
    custom: bool = False
    mandatory: bool = False
    unique: bool = False
    read_only: bool = False
    lookup_module: str | None = None
    picklist: tuple[str, ...] = ()
    decimal_place: int | None = None

    @property
    def json_type(self) -> str:
        """The JSON type the API uses for this field's values."""
        return JSON_TYPE[self.data_type]

    def meta(self, index: int) -> dict[str, Any]:
        """The ``settings/fields`` entry for this field."""
        out: dict[str, Any] = {
            "id": f"{4970762000000002000 + index}",
            "api_name": self.api_name,
            "field_label": self.label or self.api_name.replace("_", " "),
            "display_label": self.label or self.api_name.replace("_", " "),
            "data_type": self.data_type,
            "json_type": self.json_type,
            "length": self.length,
            "decimal_place": self.decimal_place,
            "custom_field": self.custom,
            "system_mandatory": self.mandatory,
            "read_only": self.read_only,
            "field_read_only": self.read_only,
            "visible": True,
            "webhook": True,
            "sequence_number": index + 1,
            "unique": {"casesensitive": "false"} if self.unique else {},
            "pick_list_values": [
                {
                    "display_value": v,
                    "actual_value": v,
                    "sequence_number": i + 1,
                    "id": f"{4970762000000090000 + i}",
                    "type": "used",
                }
                for i, v in enumerate(self.picklist)
            ],
            "lookup": {
                "module": {"api_name": self.lookup_module, "id": "4970762000000002175"},
                "display_label": self.lookup_module,
                "api_name": self.api_name,
            }
            if self.lookup_module
            else {},
            "crypt": None,
            "formula": {},
            "currency": {"rounding_option": "normal", "precision": 2} if self.data_type == "currency" else {},
            "auto_number": {},
            "multiselectlookup": {},
            "operation_type": {
                "web_update": not self.read_only,
                "api_create": not self.read_only,
                "web_create": not self.read_only,
                "api_update": not self.read_only,
            },
        }
        return out


@dataclass(frozen=True, slots=True)
class ModuleDef:
    """One module: its API name, singular label, fields and duplicate-check fields."""

    api_name: str
    singular: str
    fields: tuple[FieldDef, ...]
    system_duplicate_fields: tuple[str, ...]
    by_name: dict[str, FieldDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name.update({f.api_name: f for f in self.fields})

    @property
    def unique_fields(self) -> tuple[str, ...]:
        """Fields whose values must be unique (custom unique fields such as ``USCC``)."""
        return tuple(f.api_name for f in self.fields if f.unique)

    @property
    def mandatory(self) -> tuple[str, ...]:
        """System-mandatory fields an insert must carry."""
        return tuple(f.api_name for f in self.fields if f.mandatory)


_SYSTEM = (
    FieldDef("Owner", "ownerlookup", "Account Owner", lookup_module="users"),
    FieldDef("Created_By", "ownerlookup", read_only=True, lookup_module="users"),
    FieldDef("Modified_By", "ownerlookup", read_only=True, lookup_module="users"),
    FieldDef("Created_Time", "datetime", read_only=True),
    FieldDef("Modified_Time", "datetime", read_only=True),
    FieldDef("Last_Activity_Time", "datetime", read_only=True),
    FieldDef("Currency", "picklist", picklist=("CNY", "USD", "EUR", "HKD")),
    FieldDef("Exchange_Rate", "double", decimal_place=9),
    FieldDef("Tag", "text", read_only=True),
    FieldDef("Record_Status__s", "picklist", read_only=True, picklist=("Available", "Draft", "Trash")),
    FieldDef("Locked__s", "boolean", read_only=True),
)

ACCOUNTS = ModuleDef(
    "Accounts",
    "Account",
    (
        FieldDef("Account_Name", "text", "Account Name", length=200, mandatory=True),
        FieldDef("Account_Number", "text", length=40),
        FieldDef("Account_Site", "text", length=80),
        FieldDef("Account_Type", "picklist", picklist=("-None-", "Customer", "Prospect", "Partner", "Other")),
        FieldDef("Parent_Account", "lookup", lookup_module="Accounts"),
        FieldDef("Phone", "phone", length=30),
        FieldDef("Fax", "phone", length=30),
        FieldDef("Website", "website", length=255),
        FieldDef("Industry", "picklist", picklist=PICKLIST),
        FieldDef("Ownership", "picklist", picklist=("-None-", "Other", "Private", "Public", "Subsidiary")),
        FieldDef("Rating", "picklist", picklist=("-None-", "Acquired", "Active", "Market Failed", "Shutdown")),
        FieldDef("SIC_Code", "integer"),
        FieldDef("Ticker_Symbol", "text", length=30),
        FieldDef("Annual_Revenue", "currency", decimal_place=2, length=16),
        FieldDef("Employees", "integer"),
        FieldDef("Billing_Street", "text", length=250),
        FieldDef("Billing_City", "text", length=100),
        FieldDef("Billing_State", "text", length=100),
        FieldDef("Billing_Code", "text", length=30),
        FieldDef("Billing_Country", "text", length=100),
        FieldDef("Shipping_Street", "text", length=250),
        FieldDef("Shipping_City", "text", length=100),
        FieldDef("Shipping_State", "text", length=100),
        FieldDef("Shipping_Code", "text", length=30),
        FieldDef("Shipping_Country", "text", length=100),
        FieldDef("Description", "textarea", length=32000),
        FieldDef("USCC", "text", "USCC", length=18, custom=True, unique=True),
        FieldDef(
            "Risk_Rating",
            "picklist",
            "Risk Rating",
            custom=True,
            picklist=("-None-", "AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D"),
        ),
        FieldDef(
            "Risk_Segment", "picklist", "Risk Segment", custom=True, picklist=("-None-", "低风险", "中风险", "高风险")
        ),
        *_SYSTEM,
    ),
    system_duplicate_fields=("Account_Name",),
)

CONTACTS = ModuleDef(
    "Contacts",
    "Contact",
    (
        FieldDef("Salutation", "picklist", picklist=("-None-", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")),
        FieldDef("First_Name", "text", length=40),
        FieldDef("Last_Name", "text", "Last Name", length=80, mandatory=True),
        FieldDef("Full_Name", "text", read_only=True),
        FieldDef("Account_Name", "lookup", "Account Name", lookup_module="Accounts"),
        FieldDef("Email", "email", length=100),
        FieldDef("Secondary_Email", "email", length=100),
        FieldDef("Phone", "phone", length=30),
        FieldDef("Mobile", "phone", length=30),
        FieldDef("Home_Phone", "phone", length=30),
        FieldDef("Other_Phone", "phone", length=30),
        FieldDef("Fax", "phone", length=30),
        FieldDef("Title", "text", length=100),
        FieldDef("Department", "text", length=100),
        FieldDef("Date_of_Birth", "date"),
        FieldDef("Reporting_To", "lookup", lookup_module="Contacts"),
        FieldDef(
            "Lead_Source",
            "picklist",
            picklist=(
                "-None-",
                "Advertisement",
                "Cold Call",
                "Employee Referral",
                "External Referral",
                "Partner",
                "Trade Show",
                "Web Download",
            ),
        ),
        FieldDef("Email_Opt_Out", "boolean"),
        FieldDef("Mailing_Street", "text", length=250),
        FieldDef("Mailing_City", "text", length=100),
        FieldDef("Mailing_State", "text", length=100),
        FieldDef("Mailing_Zip", "text", length=30),
        FieldDef("Mailing_Country", "text", length=100),
        FieldDef("Description", "textarea", length=32000),
        *_SYSTEM,
    ),
    system_duplicate_fields=("Email",),
)

MODULES: dict[str, ModuleDef] = {"Accounts": ACCOUNTS, "Contacts": CONTACTS}
