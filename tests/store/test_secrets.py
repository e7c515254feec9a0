"""The encrypted token cache: shared between processes, never plaintext in the database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from crmhub.errors import StoreError
from crmhub.http import SingleFlightToken, cache_key
from crmhub.store import Store
from crmhub.store.secrets import StoreTokenCache, load_key


def test_tokens_are_encrypted_at_rest_and_shared(store: Store) -> None:
    """What the cache stores is ciphertext; a second cache with the key reads it back; another key cannot."""
    key = Fernet.generate_key()
    cache = StoreTokenCache(store, key)
    cache.save("zoho:abc", "1000.secret-access-token", time.time() + 3600, {"api_domain": "https://x"})
    with store.engine.connect() as conn:
        dumped = " ".join(str(v) for row in conn.execute(text("SELECT * FROM token_cache")) for v in row)
    assert "secret-access-token" not in dumped and "api_domain" not in dumped
    token, expires, extra = StoreTokenCache(store, key).load("zoho:abc")  # type: ignore[misc]
    assert token == "1000.secret-access-token" and extra == {"api_domain": "https://x"} and expires > time.time()
    assert StoreTokenCache(store, Fernet.generate_key()).load("zoho:abc") is None
    cache.forget("zoho:abc", "some-other-token")
    assert cache.load("zoho:abc") is not None
    cache.forget("zoho:abc", "1000.secret-access-token")
    assert cache.load("zoho:abc") is None


def test_expired_tokens_are_not_returned(store: Store) -> None:
    """An expired cached token is a miss."""
    cache = StoreTokenCache(store, Fernet.generate_key())
    cache.save("k", "t", time.time() - 1, None)
    assert cache.load("k") is None


async def test_two_processes_worth_of_holders_mint_one_token(store: Store) -> None:
    """Two independent holders (as in two crmhub processes) sharing the store cache fetch a token once."""
    cache = StoreTokenCache(store, Fernet.generate_key())
    minted = 0

    async def fetch() -> tuple[str, float, dict[str, str] | None]:
        nonlocal minted
        minted += 1
        return f"token-{minted}", 3600.0, None

    key = cache_key("zoho", "https://accounts.zoho.com.cn", "client", "refresh")
    first = SingleFlightToken(fetch, cache=cache, cache_key=key)
    second = SingleFlightToken(fetch, cache=cache, cache_key=key)
    assert (await first.get()).value.get_secret_value() == "token-1"
    assert (await second.get()).value.get_secret_value() == "token-1"
    assert minted == 1 and "refresh" not in key
    second.invalidate("token-1")
    assert (await first.get()).value.get_secret_value() == "token-1"  # still cached in memory by the first
    assert (await SingleFlightToken(fetch, cache=cache, cache_key=key).get()).value.get_secret_value() == "token-2"


def test_key_file_is_created_private_and_bad_keys_are_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key file is made with mode 0600; a malformed CRMHUB_SECRET_KEY is a StoreError saying how to fix it."""
    monkeypatch.delenv("CRMHUB_SECRET_KEY", raising=False)
    path = tmp_path / "var" / "secret.key"
    key = load_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and load_key(path) == key
    monkeypatch.setenv("CRMHUB_SECRET_KEY", "not-a-key")
    with pytest.raises(StoreError, match="CRMHUB_SECRET_KEY"):
        load_key(path)


def _key_in_a_process(path: str) -> bytes:
    return load_key(Path(path))


def test_processes_creating_the_key_at_once_all_get_the_same_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several processes starting on a fresh folder race to create secret.key: none fails, all read one key (an
    O_EXCL create used to fail the loser with FileExistsError, or let it read a half-written file)."""
    import multiprocessing

    monkeypatch.delenv("CRMHUB_SECRET_KEY", raising=False)
    path = tmp_path / "var" / "secret.key"
    with multiprocessing.get_context("fork").Pool(6) as pool:
        keys = pool.map(_key_in_a_process, [str(path)] * 12)
    assert len(set(keys)) == 1 and path.read_bytes().strip() == keys[0]
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret.key"]  # no temporary file left behind
