"""Metadata endpoints real clients call before anything else (fact sheet §8): modules, fields, users, org.

The official SDK reads ``users?type=CurrentUser`` right after its token and ``settings/fields`` (and
``settings/modules``) before record calls; Airbyte reads ``org`` for the edition. Shapes follow crm-oas.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from crmhub_zoho.simulator.records import authenticate, sim_of
from crmhub_zoho.simulator.responses import error, ok
from crmhub_zoho.simulator.seed import zoho_id

_OTHER_MODULES = ("Leads", "Deals", "Tasks", "Events", "Calls", "Notes", "Products")


def _module(api_name: str, singular: str, index: int, supported: bool = True) -> dict[str, object]:
    return {
        "id": zoho_id(2000 + index),
        "api_name": api_name,
        "module_name": api_name,
        "plural_label": api_name,
        "singular_label": singular,
        "api_supported": supported,
        "generated_type": "default",
        "creatable": True,
        "editable": True,
        "deletable": True,
        "viewable": True,
        "visible": True,
        "sequence_number": index + 1,
        "modified_time": None,
        "status": "visible",
        "presence_sub_menu": True,
        "quick_create": True,
        "feeds_required": False,
        "global_search_supported": True,
        "profiles": [{"name": "Administrator", "id": zoho_id(3001)}],
    }


async def modules(request: Request) -> Response:
    """``GET /crm/{v}/settings/modules``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    listed = [_module(s.module.api_name, s.module.singular, i) for i, s in enumerate(sim.modules.values())]
    listed += [
        _module(name, name.rstrip("s"), len(listed) + i, supported=False) for i, name in enumerate(_OTHER_MODULES)
    ]
    return ok({"modules": listed})


async def module_detail(request: Request) -> Response:
    """``GET /crm/{v}/settings/modules/{api_name}``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    module = sim.module_def(request.path_params["module"])
    if module is None:
        return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 2})
    index = list(sim.modules).index(module.api_name)
    detail = _module(module.api_name, module.singular, index)
    detail["fields"] = None
    return ok({"modules": [detail]})


async def fields(request: Request) -> Response:
    """``GET /crm/{v}/settings/fields?module=X``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    name = request.query_params.get("module")
    if not name:
        return error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": "module"})
    module = sim.module_def(name)
    if module is None:
        return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"param": "module"})
    return ok({"fields": [f.meta(i) for i, f in enumerate(module.fields)]})


def _user(sim_user: object, current: bool) -> dict[str, object]:
    name = getattr(sim_user, "name", "")
    return {
        "id": getattr(sim_user, "user_id", ""),
        "full_name": name,
        "first_name": name[1:] or None,
        "last_name": name[:1],
        "email": getattr(sim_user, "email", ""),
        "status": "active",
        "role": {"name": "CEO" if current else "Relationship Manager", "id": zoho_id(4001 if current else 4002)},
        "profile": {"name": "Administrator" if current else "Standard", "id": zoho_id(3001 if current else 3002)},
        "time_zone": "Asia/Shanghai",
        "locale": "zh_CN",
        "language": "zh_CN",
        "country_locale": "zh_CN",
        "confirm": True,
        "zuid": getattr(sim_user, "user_id", "")[-9:],
        "type": "CurrentUser" if current else None,
    }


async def users(request: Request) -> Response:
    """``GET /crm/{v}/users?type=CurrentUser|AllUsers|ActiveUsers``."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    kind = request.query_params.get("type", "AllUsers")
    if kind == "CurrentUser":
        listed = [_user(sim.users.get(tok.user_id, sim.admin), True)]
    else:
        listed = [_user(u, u.user_id == tok.user_id) for u in sim.users.values()]
    return ok({"users": listed, "info": {"per_page": 200, "count": len(listed), "page": 1, "more_records": False}})


async def org(request: Request) -> Response:
    """``GET /crm/{v}/org`` with ``license_details.paid_type`` (edition)."""
    tok = authenticate(request)
    if isinstance(tok, Response):
        return tok
    sim = sim_of(request)
    edition = sim.settings["edition"]
    return ok(
        {
            "org": [
                {
                    "id": zoho_id(1),
                    "company_name": sim.settings["org_name"],
                    "alias": None,
                    "primary_email": sim.admin.email,
                    "time_zone": "Asia/Shanghai",
                    "iso_code": "CNY",
                    "currency_symbol": "¥",
                    "currency_locale": "zh_CN",
                    "country_code": "CN",
                    "country": "China",
                    "mc_status": True,
                    "domain_name": "org" + zoho_id(1)[-9:],
                    "zgid": zoho_id(1)[-9:],
                    "type": "production",
                    "license_details": {
                        "paid_type": edition,
                        "paid": edition != "free",
                        "trial_type": None,
                        "users_license_purchased": max(1, len(sim.users)),
                        "paid_expiry": None,
                        "trial_expiry": None,
                    },
                }
            ]
        }
    )
