"""crmhub.testing — the conformance kit a connector or channel package runs in its own tests.

Reference
=========

The kit is two test base classes, shaped like the testing helpers of pytest and pluggy: subclass one in your
plugin's test folder, say what to test against, and pytest collects the inherited ``test_*`` checks. Every check is
a synchronous method that runs its own event loop, so the kit needs pytest and nothing else (no pytest-asyncio, no
fixtures to wire). It imports no simulator-only package (aiosmtpd, tomli-w), so ``import crmhub.testing`` works on
a plain ``pip install crmhub`` plus pytest; serving an HTTP simulator goes through crmhub's sandbox runner, whose
server wants the ``[sandbox]`` extra — a plugin's test environment installs ``crmhub[sandbox]`` and pytest.

``ConnectorContract`` (a connector against its simulator or respx routes)::

    from crmhub.testing import ConnectorContract

    class TestCsvContract(ConnectorContract):
        plugin = "csv"                       # the plugin key your entry point registers
        sandbox_app = "csv"                  # an HTTP SandboxApp your plugin offers ...

        def config_overrides(self):          # keys making pages small and retries quick
            return {"page_size": 5, "retry_base_delay": 0.01}

        def world(self): ...                 # SandboxOptions.world for the simulator (default None)

        def outbound_records(self, stream, pulled):   # only for writable streams
            return [OutboundRecord(key="k1", source_id=pulled[0].source_id, data=..., fields=("phone",)), ...]

Without a simulator, ``service`` can serve respx routes (the connector's httpx calls stay in-process)::

        @contextlib.contextmanager
        def service(self, fault=None):
            with respx.mock(base_url="https://api.example.test") as routes:
                answer = {Fault.UNAVAILABLE: 503, Fault.THROTTLED: 429, Fault.AUTH_REJECTED: 401}.get(fault)
                if answer:
                    routes.route().respond(answer)
                else:
                    routes.get("/clients").mock(side_effect=fake_clients)  # pages by the request's cursor
                    routes.post("/clients").mock(side_effect=fake_write)   # and keeps what is written
                yield {"plugin": "csv", "base_url": "https://api.example.test", "token": "a-long-test-token"}

Attributes and methods a subclass provides:

========================  ==========================================================================================
``plugin``                required: the ``plugin = "…"`` key the class is registered under
``service(fault=None)``   a context manager yielding the config table (dict, ``plugin`` key included) pointing at
                          a running service; with a `Fault`, a service misbehaving that way. Default: serve
                          ``sandbox_app`` on loopback (`crmhub.testing.servers.sandbox_service`)
``sandbox_app``           name of an HTTP `crmhub.contract.SandboxApp` (the default ``service`` needs it)
``sandbox_settings()``    ``SandboxOptions.settings`` for the simulator; ``world()`` its ``world``
``config_overrides()``    keys the default ``service`` merges into the config table: small pages, quick retries
``pull_streams``          streams whose pulls are checked (default: all declared)
``push_streams``          streams whose pushes are checked (default: all ``writable``)
``outbound_records()``    sample writes for a writable stream, given the stream's pulled records
``reread_streams``        streams read whole every run by design: their last cursor starts over, not checked
``resume_samples``        how many committed cursors to resume from per stream (default 6)
``name``                  the configured name (``[connectors.contract]``) key paths use
``log_exempt``            logger names of the service side, ignored by the secret check
``connector_class``       the class, when it is not registered through an entry point (the kit's own tests)
========================  ==========================================================================================

Checks (``ConnectorContract``):

* ``test_declares_streams`` — a `Connector` with a `ConnectorConfig` model, unique stream names; ``check()`` passes.
* ``test_pull_resumes_from_every_cursor`` — a whole pull page by page; then from a sample of the committed cursors
  (the last one included, except for ``reread_streams``) a new pull: the records before the cursor plus those after
  it are exactly the whole pull, no source id missing or repeated; some stream has at least two pages.
* ``test_pages_commit_with_their_cursor`` — crmhub's own ingest code into a fresh SQLite store: stopped after page
  k, the store holds that page's cursor and pages 1…k; a new run resumes from the stored cursor and the store
  holds every record once.
* ``test_push_answers_each_record_in_order`` — one ``PushResult`` per record, same keys in input order, each ``ok``
  with a ``source_id``; every written field that ``writable_fields`` allows reads back equal (compared as the
  write-back planner compares, `crmhub.sync.writeback.diff`).
* ``test_unavailable_service_is_retriable`` / ``test_throttling_is_retriable`` — a pull raises `RetriableError`.
* ``test_rejected_credentials_are_fatal`` — a pull raises `FatalError`; ``check()`` returns ``ok=False``; neither
  names a secret.
* ``test_secrets_never_in_reprs`` / ``test_secrets_never_in_logs`` — no `SecretStr` value of the config appears in
  ``repr``/``str`` of the config or the instance (and its attributes), nor in any log record written while
  checking, pulling and pushing, healthy and under every fault.
* ``test_config_errors_name_the_key_path`` — through the core's validation (`crmhub.config.parse_settings`): a
  missing required key, an unknown key, an empty secret and a wrong type are reported at
  ``connectors.<name>.<key>``, and no message repeats a secret.

``ChannelContract`` (a channel against its sandbox service) takes ``plugin``, ``service(fault)`` (or
``sandbox_app``), ``recipients`` (at least two the service accepts), ``refused_recipient`` (one it refuses for
good) and optionally ``message(key, recipients, channel)``. Its checks: ``test_declares_channel``,
``test_send_answers_every_recipient`` (``delivered`` with ``"ok"`` per recipient under the message's key; with the
refused recipient ``partial``, only it failing, not retriable), ``test_compose_is_deterministic``, the two
retriable-fault checks (a `RetriableError` or a result marked ``retriable``), ``test_rejected_credentials_are_fatal``
and the secret and config checks above.

`Fault` — what ``service(fault)`` must serve: ``UNAVAILABLE`` (every call a 5xx, or nothing listening),
``THROTTLED`` (the service's own "too many requests"), ``AUTH_REJECTED`` (credentials refused).

Helpers: ``start_simulator(build, world=, faults=, settings=)`` serves an ASGI simulator on a free loopback port;
``Simulators(build)`` is a pool stopped at the end of a test; ``simulator_service(build, config, fault)`` is a
whole ``service`` for a simulator wrapped in `crmhub.sandbox.faults.FaultMiddleware` (``sandbox_service(app,
fault)``, in `crmhub.testing.servers`, the default one for a `SandboxApp`); ``pull_all(connector, stream, cursor)``
reads a stream to its end (`Pull`: records, rejects, each page's cursor); ``client_writes(pulled, changes,
new=)`` makes sample writes for ``outbound_records``. `crmhub.testing.base` has ``capture_logs``,
``secret_values`` and ``assert_no_secrets``.

Run one check by name as any pytest test: ``pytest tests/test_conformance.py -k resumes``. A check that fails
says what the engine would do wrong with your plugin (which cursor loses which records, which key path an error
should name).
"""

from __future__ import annotations

from crmhub.testing.base import Fault
from crmhub.testing.channel import ChannelContract
from crmhub.testing.connector import ConnectorContract
from crmhub.testing.records import Pull, client_writes, pull_all
from crmhub.testing.servers import Simulators, simulator_service, start_simulator

__all__ = [
    "ChannelContract",
    "ConnectorContract",
    "Fault",
    "Pull",
    "Simulators",
    "client_writes",
    "pull_all",
    "simulator_service",
    "start_simulator",
]
