"""`crmhub.testing` loads on a production install: no simulator-only package (aiosmtpd, tomli-w), no bundled
plugin and not even pytest are imported with it (a plugin's tests bring pytest; the kit never needs it itself)."""

from __future__ import annotations

import subprocess
import sys

import crmhub.testing


def test_importing_the_kit_pulls_in_no_simulator_package_and_no_plugin() -> None:
    probe = (
        "import sys, crmhub.testing; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiosmtpd', 'tomli_w', 'pytest', 'crmhub_zoho', "
        "'crmhub_fxiaoke', 'crmhub_ledger', 'crmhub_email', 'crmhub_wechat'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_kit_exports_its_contracts_and_documents_them() -> None:
    assert {"ConnectorContract", "ChannelContract", "Fault"} <= set(crmhub.testing.__all__)
    reference = crmhub.testing.__doc__ or ""
    for name in (
        "test_pull_resumes_from_every_cursor",
        "test_pages_commit_with_their_cursor",
        "test_push_answers_each_record_in_order",
        "test_rejected_credentials_are_fatal",
        "test_secrets_never_in_logs",
        "test_config_errors_name_the_key_path",
        "test_send_answers_every_recipient",
    ):
        assert name in reference
        owner = (
            crmhub.testing.ChannelContract
            if name == "test_send_answers_every_recipient"
            else crmhub.testing.ConnectorContract
        )
        assert callable(getattr(owner, name))
