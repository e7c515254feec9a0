"""`EmailConfig`: the ``[channels.<name>]`` table of an ``email`` channel (SMTP submission).

Two transport-security modes, as mail servers offer them: STARTTLS on the submission port 587 (the default) or
implicit TLS on port 465 (``use_tls``). The password is a `SecretStr` and never appears in messages or reprs.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from crmhub.contract import ChannelConfig

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class EmailConfig(ChannelConfig):
    """How to reach the bank's SMTP submission server."""

    rm_address: ClassVar[Literal["user_id", "email"]] = "email"  # an RM is mailed at the CRM owner's address

    host: str = Field(description="SMTP server host name.")
    port: int = Field(587, ge=1, le=65535, description="587 for STARTTLS, 465 for implicit TLS (use_tls).")
    username: str | None = Field(None, description="Login name; leave out for a relay that needs no AUTH.")
    password: SecretStr | None = None
    from_addr: str = Field(description="Envelope sender and From address, e.g. crm@bank.example.")
    from_name: str | None = Field(None, description="Display name of the From header, e.g. 'crmhub 通知'.")
    reply_to: str | None = None
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS before logging in.")
    use_tls: bool = Field(False, description="Implicit TLS from the first byte (port 465).")
    verify_tls: bool = Field(True, description="Verify the server certificate (turn off only for a sandbox).")
    ca_file: str | None = Field(None, description="PEM bundle of a private CA that signed the server certificate.")
    message_id_domain: str | None = Field(None, description="Right-hand side of Message-IDs (default: from_addr's).")
    local_hostname: str | None = Field(None, description="Name sent in EHLO (default: this machine's FQDN).")
    reuse_seconds: float = Field(30.0, ge=0, description="Keep an idle connection this long for the next message.")

    @model_validator(mode="before")
    @classmethod
    def _implicit_tls_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("use_tls"):
            data = dict(data)
            data.setdefault("port", 465)
            data.setdefault("starttls", False)
        return data

    @field_validator("from_addr", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.match(value.strip()):
            raise ValueError(f"{value!r} is not an email address such as crm@bank.example")
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _coherent(self) -> EmailConfig:
        if self.use_tls and self.starttls:
            raise ValueError(
                "use_tls (implicit TLS, port 465) and starttls (port 587) exclude each other; set starttls = false"
            )
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together (leave both out for a relay without AUTH)")
        return self

    @property
    def domain(self) -> str:
        """The domain Message-IDs are minted under."""
        return self.message_id_domain or self.from_addr.rpartition("@")[2]
