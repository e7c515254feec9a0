"""Both notification simulators as ``crmhub sandbox serve`` runs them: over one world, configured by the
config tables the hooks write, driven by the real channels."""

from __future__ import annotations

from crmhub.contract import OutboundMessage, PluginContext
from crmhub.sandbox.serve import free_port_base, start_sandboxes
from crmhub.sandbox.world import World
from crmhub_email import EmailChannel, EmailConfig
from crmhub_email import plugin as email_plugin
from crmhub_wechat import WecomChannel, WecomConfig
from crmhub_wechat import plugin as wecom_plugin


async def test_serve_world_config_and_channels_end_to_end() -> None:
    apps = [*wecom_plugin.crmhub_sandbox_apps(), *email_plugin.crmhub_sandbox_apps()]
    world = World(seed=3, clients=40)
    owner = next(c.zoho or c.fxiaoke for c in world.companies(ledger_detail=False) if c.zoho or c.fxiaoke)
    assert owner is not None
    with start_sandboxes(apps, port_base=free_port_base(apps), world=world) as sandboxes:
        channels = sandboxes.config()["channels"]
        wecom = WecomChannel(WecomConfig.model_validate(channels["wecom"]), PluginContext(name="wecom"))
        mail = EmailChannel(EmailConfig.model_validate(channels["email"]), PluginContext(name="email"))
        async with wecom, mail:
            assert (await wecom.check()).ok and (await mail.check()).ok
            note = OutboundMessage(
                key="serve-1",
                recipients=[owner.owner.user_id, "@robot"],
                subject="测试",
                text="客户经理测试消息",
                kind="test",
            )
            assert (await wecom.send(note)).status == "delivered"
            emailed = note.model_copy(update={"recipients": [owner.owner.email]})
            assert (await mail.send(emailed)).status == "delivered"
        sim = sandboxes["wechat_work"].simulator
        assert [m.recipients for m in sim.inbox] == [[owner.owner.user_id], ["robot:1"]]
        assert sandboxes["smtp"].simulator.wait_for(1)[0].rcpt_tos == (owner.owner.email,)
