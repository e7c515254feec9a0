"""Fineract's error bodies, so the connector meets the same shapes as against a real ledger.

Fineract answers errors with ``{developerMessage, httpStatusCode, defaultUserMessage,
userMessageGlobalisationCode, errors: [{parameterName, developerMessage, …}]}``.
"""

from __future__ import annotations

from typing import Any


class SimError(Exception):
    """An error the simulator answers with a Fineract-shaped body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        parameter: str | None = None,
        value: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter
        self.value = value
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body Fineract would send."""
        user = {
            400: (
                "The request was invalid. This typically will happen due to validation errors which are provided.",
                "Validation errors exist.",
                "validation.msg.validation.errors.exist",
            ),
            401: (
                "Invalid authentication details were passed in api request.",
                "Unauthenticated. Please login.",
                "error.msg.not.authenticated",
            ),
            403: (
                "The request caused a data integrity issue to be fired by the database.",
                "Errors contain reason for domain rule violation.",
                "error.msg.platform.domain.rule.violation",
            ),
            404: (
                "The requested resource is not available.",
                "The requested resource is not available.",
                "error.msg.resource.not.found",
            ),
        }
        developer, default, global_code = user.get(self.status, (self.message, self.message, self.code))
        errors = (
            []
            if self.status == 401
            else [
                {
                    "developerMessage": self.message,
                    "defaultUserMessage": self.message,
                    "userMessageGlobalisationCode": self.code,
                    "parameterName": self.parameter or "id",
                    "value": self.value,
                    "args": [] if self.value is None else [{"value": self.value}],
                }
            ]
        )
        return {
            "developerMessage": developer if self.status != 400 or errors else self.message,
            "developerDocLink": "https://fineract.apache.org/docs/current/",
            "httpStatusCode": str(self.status),
            "defaultUserMessage": default,
            "userMessageGlobalisationCode": global_code,
            "errors": errors,
        }


def validation(parameter: str, message: str, code: str | None = None, value: Any = None) -> SimError:
    """A 400 validation error naming the parameter."""
    return SimError(400, code or f"validation.msg.{parameter}.invalid", message, parameter=parameter, value=value)


def not_found(entity: str, ident: object) -> SimError:
    """A 404 for ``entity`` with identifier ``ident``."""
    return SimError(
        404,
        f"error.msg.{entity.lower()}.id.invalid",
        f"{entity} with identifier {ident} does not exist",
        parameter="id",
        value=ident,
    )
