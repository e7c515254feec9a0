"""The connectors' mapping of a whole generated world stays identical, record for record.

bench/mapping_world.py renders a 400-company world the way the Zoho, Fenxiang and ledger simulators serve it
(2 % malformed, 2 % duplicated records) and maps every item through the connector's own path to a
`SourceRecord` or `RejectedRecord`; a second pass replaces one field of every item (and a nested one of every
fifth) with a hostile value (wrong types, control characters, over-long text, broken USCCs, impossible dates). Each
outcome's fingerprint — the canonical record's ``model_dump(mode="json")`` in key order (the store hashes it),
the raw payload, and stream, id, modification time, deletion, or the dead letter's reason, field and payload, or
the exception raised — is hashed per stream and compared with the digests the mapping produced before its CPU was
cut (commit 47c44ed, issue #17). A difference means the mapping's output changed: compare ``fingerprint`` item by
item with that commit's code (``PYTHONPATH=<its src>:<its plugins>``) before changing a digest.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from mapping_world import Stream, fingerprint, hostile_items, world_streams

EXPECTED = {
    "zoho.accounts": "da0cd521949102d5b5ce05489792894224cb6361f0b829f3e583e5dbf938c6a5",
    "zoho.contacts": "428c22b412a4327dc3accc0b3ef9fd5f87911f8f6885da9e28ce89ce86ba78e1",
    "fxiaoke.accounts": "45d73755b484a820ba164a9eb4f7d4f244c7dea2e160f44ecbdef6783d6b21a6",
    "fxiaoke.contacts": "1a1b1e0f8de6a2b4fcb08374daa3b2cd29e8f3368d115342b620ac159493390d",
    "ledger.clients": "0872743e096dbf46d30e623f5c1717294c8792a23267fef063c474887eca646d",
    "ledger.loans": "b90fdae228543c9b0f9bb8c8c7e3a1a4f4ef69b85e9f60a143979e02a4485543",
    "zoho.accounts+hostile": "6d3d27d893cfa5c2def6baa65cce03ebf9a2600da2d794344f6a9076cbe85ced",
    "zoho.contacts+hostile": "1fa88055eb35c22fb90dc269b1029996fb05ebd0e179af41c77df9fe52b191bf",
    "fxiaoke.accounts+hostile": "1659730843896bbddd9f570e3438162b62d7d60e1e56e3986770505d276e3b5f",
    "fxiaoke.contacts+hostile": "bf4777b00800e8499ee749a327bb96fed738d790c4d87f6ef4943d1cab94bea9",
    "ledger.clients+hostile": "673a1bca06cb9086474d4e90a8c1fe4e32740a9499e279daa394526ef888eb27",
    # changed on purpose: a loan whose currency is not an ISO 4217 code is now a rejection (dead letter naming
    # `currency`), no longer a ValidationError escaping the mapping (was 2d79cfaf…01)
    "ledger.loans+hostile": "76a7d8c9437b31d66b9b120a33fe91d38cee974be9cc3c230338033d16404657",
}


def _digest(stream: Stream, items: list[object]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(fingerprint(stream, item))
        h.update(b"\n")
    return h.hexdigest()


@pytest.mark.parametrize("hostile", [False, True], ids=["world", "hostile"])
def test_mapping_of_a_world_is_unchanged(hostile: bool) -> None:
    got = {}
    for stream in world_streams(400):
        items = hostile_items(stream.items) if hostile else stream.items
        got[stream.name + ("+hostile" if hostile else "")] = _digest(stream, items)
    want = {k: v for k, v in EXPECTED.items() if k.endswith("+hostile") == hostile}
    assert got == want
