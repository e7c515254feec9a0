"""Hook implementations of the ``email`` plugin: the SMTP channel and the SMTP sandbox server."""

from __future__ import annotations

from typing import Any

from crmhub.contract import Channel, SandboxApp
from crmhub.hookspecs import hookimpl


@hookimpl
def crmhub_register_channels() -> dict[str, type[Channel[Any]]]:
    """``[channels.x] plugin = "email"`` selects `EmailChannel`."""
    from crmhub_email.channel import EmailChannel

    return {"email": EmailChannel}


@hookimpl
def crmhub_sandbox_apps() -> list[SandboxApp]:
    """The SMTP sandbox (preferably on ``--port-base + 4``): ``build`` returns the aiosmtpd handler (serve it with
    `crmhub_email.sandbox.serve_smtp`, which wires its AUTH LOGIN/PLAIN authenticator).

    ``crmhub_email.sandbox`` is imported only when the sandbox runs: it needs aiosmtpd, which only the
    ``[sandbox]`` extra installs, and this hook is called on every command that loads the plugins."""

    def sandbox() -> Any:
        from crmhub_email import sandbox as module

        return module

    return [
        SandboxApp(
            name="smtp",
            title="SMTP server (aiosmtpd)",
            preferred_offset=4,
            protocol="smtp",
            build=lambda options: sandbox().sandbox_handler(options.settings),
            config_section="channels",
            config_name="email",
            config=lambda hostport: {
                "plugin": "email",
                "host": hostport.rpartition(":")[0] or "127.0.0.1",
                "port": int(hostport.rpartition(":")[2]),
                "username": sandbox().SANDBOX_USERNAME,
                "password": sandbox().SANDBOX_PASSWORD,
                "from_addr": sandbox().SANDBOX_FROM,
                "starttls": False,
            },
            # AML alerts go only to the AML team by email (docs/notifications.md): an example group, so the sandbox's
            # alerts land in the SMTP sandbox instead of nowhere.
            extra_config={"notify": {"groups": {"aml_team": ["aml@bank.example"]}}},
        )
    ]
