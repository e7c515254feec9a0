"""Secrets at rest: a Fernet key kept outside the database, and the encrypted token cache built on it.

The key comes from ``CRMHUB_SECRET_KEY`` (a urlsafe base64 Fernet key; use this for several machines) or from
``secret.key`` in the configuration's ``var`` folder (`Store.var_dir`), created with mode 0600 on first use. The
database only ever holds ciphertext; a stolen database without the key reveals no token.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete

from crmhub.errors import StoreError
from crmhub.store.db import Store
from crmhub.store.files import private_dir, tighten
from crmhub.store.tables import TokenCacheRow

DEFAULT_KEY_FILE = Path("var/secret.key")


def load_key(path: Path = DEFAULT_KEY_FILE) -> bytes:
    """The Fernet key: ``CRMHUB_SECRET_KEY``, else the key file (created 0600 when missing)."""
    env = os.environ.get("CRMHUB_SECRET_KEY")
    if env:
        key = env.encode()
    elif path.exists():
        tighten(path)
        key = path.read_bytes().strip()
    else:
        key = _create_key_file(path)
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise StoreError(
            "the secret key is not a valid Fernet key",
            hint="set CRMHUB_SECRET_KEY to the output of "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`",
        ) from None
    return key


def _create_key_file(path: Path) -> bytes:
    """Create the key file atomically: several processes starting at once on a fresh folder must all end up with
    the same key, so the key is written whole to a private temporary file and linked into place (``os.link``
    fails if another process got there first, and then its key is the one)."""
    private_dir(path.parent)
    key = Fernet.generate_key()
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return path.read_bytes().strip()
        return key
    finally:
        temp.unlink(missing_ok=True)


class StoreTokenCache:
    """`crmhub.contract.TokenCache` in the store, encrypted; safe to share between processes and machines."""

    def __init__(self, store: Store, key: bytes | None = None) -> None:
        self.store = store
        self._fernet = Fernet(key or load_key(store.var_dir / "secret.key"))

    def load(self, key: str) -> tuple[str, float, dict[str, str] | None] | None:
        with self.store.begin() as s:
            row = s.get(TokenCacheRow, key)
            if row is None or row.expires_at <= datetime.now(UTC):
                return None
            blob = row.ciphertext
            expires = row.expires_at.timestamp()
        try:
            body = json.loads(self._fernet.decrypt(blob.encode()))
        except (InvalidToken, ValueError):
            return None  # written with another key: ignore it, a fresh token replaces it
        return str(body["token"]), expires, body.get("extra")

    def save(self, key: str, token: str, expires_epoch: float, extra: dict[str, str] | None) -> None:
        blob = self._fernet.encrypt(json.dumps({"token": token, "extra": extra}).encode()).decode()
        now = datetime.now(UTC)
        with self.store.begin() as s:
            row = s.get(TokenCacheRow, key)
            expires = datetime.fromtimestamp(expires_epoch, UTC)
            if row is None:
                s.add(TokenCacheRow(key=key, ciphertext=blob, expires_at=expires, updated_at=now))
            else:
                row.ciphertext, row.expires_at, row.updated_at = blob, expires, now

    def forget(self, key: str, token: str) -> None:
        found = self.load(key)
        if found is not None and found[0] == token:
            with self.store.begin() as s:
                s.execute(delete(TokenCacheRow).where(TokenCacheRow.key == key))
