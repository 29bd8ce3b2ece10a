"""The node's bearer tokens: a token verified once is not decoded again for every request,
and still expires on time; a forged or foreign one never verifies."""

from __future__ import annotations

import jwt
import pytest

from fieldrelay import tokens
from fieldrelay.errors import Unauthorized
from fieldrelay.tokens import TokenIssuer

SECRET = b"s" * 32


def issuer() -> TokenIssuer:
    return TokenIssuer(SECRET, "fieldrelay", "fieldrelay", 60)


def test_a_verified_token_is_kept_and_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens_ = issuer()
    token, expires_at = tokens_.issue("o1", "officer")
    decoded: list[str] = []
    real = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        decoded.append("once")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting)
    first = tokens_.verify(token)
    assert tokens_.verify(token) == first and first.name == "o1"
    assert decoded == ["once"]
    # Past its expiry the kept claims do not answer: the token is refused.
    monkeypatch.setattr("fieldrelay.tokens.time.time", lambda: expires_at + 1.0)
    with pytest.raises(Unauthorized, match="expired"):
        tokens_.verify(token)


def test_forged_and_foreign_tokens_never_verify() -> None:
    tokens_ = issuer()
    token, _ = tokens_.issue("o1", "officer")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    foreign, _ = TokenIssuer(b"x" * 32, "fieldrelay", "fieldrelay", 60).issue("o1", "admin")
    for bad in (forged, foreign, forged):  # refused again, not kept
        with pytest.raises(Unauthorized):
            tokens_.verify(bad)


def test_the_kept_claims_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_KEPT", 3)
    tokens_ = issuer()
    issued = [tokens_.issue(f"o{i}", "officer")[0] for i in range(5)]
    for token in issued:
        tokens_.verify(token)
    assert len(tokens_._verified) == 3
