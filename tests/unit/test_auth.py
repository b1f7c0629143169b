"""Token verification without I/O: what a valid token yields and every way a bad one is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from nnmatch.auth import (
    AUDIENCE,
    DEV_ISSUER,
    DEV_JWKS_FILE,
    DevSigningKey,
    DevTokens,
    InvalidToken,
    KeySource,
    Principal,
    Role,
    TokenVerifier,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "amina-1",
        "role": "member",
        "iss": DEV_ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def dev_key(tmp_path: Path) -> DevSigningKey:
    return DevSigningKey.load_or_create(tmp_path / "auth")


@pytest.fixture
def verifier(dev_key: DevSigningKey, tmp_path: Path) -> TokenVerifier:
    keys = KeySource(jwks_file=tmp_path / "auth" / DEV_JWKS_FILE)
    return TokenVerifier(keys, issuer=DEV_ISSUER, leeway_s=5)


def _signed(dev_key: DevSigningKey, claims: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(
        claims, dev_key.private_key, algorithm="ES256", headers={"kid": dev_key.kid} | headers
    )


async def _refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    return str(caught.value)


# --------------------------------------------------------------------------- valid tokens


async def test_dev_tokens_for_each_role_verify_to_their_principal(
    dev_key: DevSigningKey, verifier: TokenVerifier, tmp_path: Path
) -> None:
    tokens = DevTokens(tmp_path / "auth")

    member = await verifier.verify(tokens.token(Role.MEMBER, "amina-1"))
    hub = await verifier.verify(tokens.token(Role.HUB, "yail-nairobi"))
    operator = await verifier.verify(tokens.token(Role.OPERATOR))

    assert member == Principal(role=Role.MEMBER, subject="amina-1")
    assert hub == Principal(role=Role.HUB, subject="hub-yail-nairobi", hub="yail-nairobi")
    assert operator == Principal(role=Role.OPERATOR, subject="operator")
    assert member.acts_for("amina-1")
    assert not member.acts_for("kofi-1")
    assert not hub.acts_for("amina-1")
    assert not hub.acts_for("hub-yail-nairobi")
    assert operator.acts_for("anyone")


async def test_the_dev_key_is_reused_and_its_jwks_names_only_the_public_half(
    dev_key: DevSigningKey, tmp_path: Path
) -> None:
    again = DevSigningKey.load_or_create(tmp_path / "auth")
    jwks = json.loads((tmp_path / "auth" / DEV_JWKS_FILE).read_text())

    assert again.kid == dev_key.kid
    assert [k["kid"] for k in jwks["keys"]] == [dev_key.kid]
    assert jwks["keys"][0]["alg"] == "ES256"
    assert "d" not in jwks["keys"][0]  # no private part
    assert (tmp_path / "auth" / "dev-signing-key.pem").stat().st_mode & 0o077 == 0


async def test_a_token_without_kid_verifies_when_one_key_is_configured(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    token = jwt.encode(_claims(), dev_key.private_key, algorithm="ES256")

    assert (await verifier.verify(token)).subject == "amina-1"


async def test_an_audience_list_that_includes_ours_is_accepted(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    token = _signed(dev_key, _claims(aud=["other-api", AUDIENCE]))

    assert (await verifier.verify(token)).role is Role.MEMBER


async def test_rs256_keys_from_a_jwks_file_verify_and_only_as_rs256(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    path = tmp_path / "idp-jwks.json"
    path.write_text(json.dumps({"keys": [public_jwk | {"kid": "idp-1", "use": "sig"}]}))
    verifier = TokenVerifier(KeySource(jwks_file=path), issuer="https://idp.example")
    claims = _claims(iss="https://idp.example", sub="kofi-1")

    good = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "idp-1"})
    other_alg = jwt.encode(claims, private, algorithm="RS512", headers={"kid": "idp-1"})
    pss = jwt.encode(claims, private, algorithm="PS256", headers={"kid": "idp-1"})

    assert await verifier.verify(good) == Principal(role=Role.MEMBER, subject="kofi-1")
    assert "RS256" in await _refused(verifier, other_alg)
    assert "RS256" in await _refused(verifier, pss)


async def test_several_keys_are_chosen_by_kid(tmp_path: Path) -> None:
    first = ec.generate_private_key(ec.SECP256R1())
    second = ec.generate_private_key(ec.SECP256R1())
    keys = [
        json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key())) | {"kid": kid, "alg": "ES256"}
        for kid, k in (("k1", first), ("k2", second))
    ]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    verifier = TokenVerifier(KeySource(jwks_file=path), issuer=DEV_ISSUER)

    by_second = jwt.encode(_claims(), second, algorithm="ES256", headers={"kid": "k2"})
    mislabelled = jwt.encode(_claims(), second, algorithm="ES256", headers={"kid": "k1"})
    unlabelled = jwt.encode(_claims(), second, algorithm="ES256")

    assert (await verifier.verify(by_second)).subject == "amina-1"
    assert "signature" in await _refused(verifier, mislabelled)
    assert "kid" in await _refused(verifier, unlabelled)


# --------------------------------------------------------------------------- refused tokens


async def test_an_expired_token_is_refused(dev_key: DevSigningKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = _signed(dev_key, _claims(iat=now - 7200, nbf=now - 7200, exp=now - 60))

    assert "expired" in await _refused(verifier, token)


async def test_expiry_within_the_leeway_is_tolerated(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    token = _signed(dev_key, _claims(exp=now - 2))  # leeway is 5 s

    assert (await verifier.verify(token)).subject == "amina-1"


async def test_a_token_not_valid_yet_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    token = _signed(dev_key, _claims(nbf=now + 600, exp=now + 1200))

    assert "not valid yet" in await _refused(verifier, token)


async def test_a_token_for_another_audience_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    assert "audience" in await _refused(verifier, _signed(dev_key, _claims(aud="other-api")))


async def test_a_token_from_another_issuer_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    token = _signed(dev_key, _claims(iss="https://evil.example"))

    assert "issuer" in await _refused(verifier, token)


async def test_a_token_signed_by_another_key_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    with_our_kid = jwt.encode(_claims(), stranger, algorithm="ES256", headers={"kid": dev_key.kid})
    with_own_kid = jwt.encode(_claims(), stranger, algorithm="ES256", headers={"kid": "evil"})

    assert "signature does not verify" in await _refused(verifier, with_our_kid)
    assert "kid" in await _refused(verifier, with_own_kid)


async def test_a_tampered_payload_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    header, _, signature = _signed(dev_key, _claims()).split(".")
    forged = f"{header}.{_segment(_claims(role='operator'))}.{signature}"

    assert "signature does not verify" in await _refused(verifier, forged)


@pytest.mark.parametrize("kid", [True, False])
@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier, alg: str, kid: bool
) -> None:
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"} | ({"kid": dev_key.kid} if kid else {})
    token = f"{_segment(header)}.{_segment(_claims(role='operator', sub='operator'))}."

    message = await _refused(verifier, token)

    assert "ES256" in message or "signature" in message


def _public_secrets(dev_key: DevSigningKey) -> list[bytes]:
    public = dev_key.private_key.public_key()
    return [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        json.dumps(dev_key.jwks()["keys"][0]).encode(),
        jwt.algorithms.ECAlgorithm.to_jwk(public).encode(),
    ]


@pytest.mark.parametrize("secret_index", range(4))
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_an_hmac_token_keyed_with_the_public_key_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier, alg: str, secret_index: int
) -> None:
    """Algorithm confusion: the attacker knows the public key and 'signs' with it as a secret."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    header = _segment({"alg": alg, "typ": "JWT", "kid": dev_key.kid})
    payload = _segment(_claims(role="operator", sub="operator"))
    secret = _public_secrets(dev_key)[secret_index]
    signature = _b64(hmac.new(secret, f"{header}.{payload}".encode(), digest).digest())

    message = await _refused(verifier, f"{header}.{payload}.{signature}")

    assert "only ES256" in message


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub"])
async def test_a_token_missing_a_registered_claim_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier, claim: str
) -> None:
    token = _signed(dev_key, _claims(**{claim: None}))

    assert claim in await _refused(verifier, token)


async def test_a_token_without_a_role_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    assert "(role)" in await _refused(verifier, _signed(dev_key, _claims(role=None)))


async def test_an_unknown_role_is_refused(dev_key: DevSigningKey, verifier: TokenVerifier) -> None:
    assert "(role)" in await _refused(verifier, _signed(dev_key, _claims(role="admin")))


async def test_a_hub_token_needs_its_hub_claim(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    missing = _signed(dev_key, _claims(role="hub", sub="hub-x"))
    bad = _signed(dev_key, _claims(role="hub", sub="hub-x", hub="no spaces/allowed"))

    assert "`hub` claim" in await _refused(verifier, missing)
    assert "(hub)" in await _refused(verifier, bad)


@pytest.mark.parametrize("sub", ["", "a b", "../etc", "x" * 65, "amina\n", "ämina"])
async def test_a_subject_that_is_not_a_member_id_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier, sub: str
) -> None:
    assert "(sub)" in await _refused(verifier, _signed(dev_key, _claims(sub=sub)))


async def test_a_subject_that_is_not_a_string_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    message = await _refused(verifier, _signed(dev_key, _claims(sub=12345)))

    assert "sub" in message.lower() or "subject" in message.lower()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "a.b",
        "....",
        _segment({"alg": "ES256"}) + ".not-base64!." + _b64(b"sig"),
        _b64(b"[1,2]") + "." + _segment({"sub": "x"}) + ".",
        _b64(b"\xff\xfe") + "." + _segment({"sub": "x"}) + ".",
    ],
)
async def test_malformed_tokens_are_refused_not_crashed_on(
    verifier: TokenVerifier, token: str
) -> None:
    assert await _refused(verifier, token)


async def test_a_token_whose_kid_is_not_a_string_is_refused(
    dev_key: DevSigningKey, verifier: TokenVerifier
) -> None:
    signing_input = f"{_segment({'alg': 'ES256', 'kid': 7})}.{_segment(_claims())}"
    signature = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).sign(
        signing_input.encode(), dev_key.private_key
    )

    assert "Key ID" in await _refused(verifier, f"{signing_input}.{_b64(signature)}")


# --------------------------------------------------------------------------- key sources


def test_a_jwks_with_only_symmetric_or_encryption_keys_is_refused(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(
        json.dumps(
            {
                "keys": [
                    {"kty": "oct", "k": _b64(b"shared-secret"), "alg": "HS256", "kid": "h"},
                    enc | {"kid": "e", "use": "enc", "alg": "RS256"},
                ]
            }
        )
    )

    with pytest.raises(ValueError, match="no RS256/ES256 signing key"):
        KeySource(jwks_file=path)


@pytest.mark.parametrize(
    "content", ["", "not json", "[]", '{"keys": []}', '{"keys": "x"}', '{"keys": [{"kty": "?"}]}']
)
def test_an_unusable_jwks_file_is_a_configuration_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)

    with pytest.raises(ValueError, match=str(path)):
        KeySource(jwks_file=path)


def test_a_missing_jwks_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        KeySource(jwks_file=tmp_path / "absent.json")


def test_exactly_one_key_source_is_configured(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        KeySource()
    with pytest.raises(ValueError, match="exactly one"):
        KeySource(jwks_file=tmp_path / "x.json", jwks_url="https://idp.example/jwks")


def test_rate_keys_are_per_token_identity_and_carry_no_member_id() -> None:
    amina = Principal(role=Role.MEMBER, subject="amina-1")
    kofi = Principal(role=Role.MEMBER, subject="kofi-1")

    assert amina.rate_key != kofi.rate_key
    assert amina.rate_key == Principal(role=Role.MEMBER, subject="amina-1").rate_key
    assert "amina" not in amina.rate_key


async def test_keys_from_a_jwks_url_verify_and_a_symmetric_key_there_is_never_used(
    dev_key: DevSigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """URL mode (the fetch replaced, so no network): the same checks as a JWKS file."""
    secret = b"a-shared-secret-the-idp-should-not-publish"
    oct_key = {"kty": "oct", "k": _b64(secret), "alg": "HS256", "kid": "shared", "use": "sig"}
    document = {"keys": [*dev_key.jwks()["keys"], oct_key]}
    fetched: list[str] = []

    def fetch_data(self: jwt.PyJWKClient) -> Any:
        fetched.append(self.uri)
        return document

    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", fetch_data)
    source = KeySource(jwks_url="https://idp.example/.well-known/jwks.json")
    verifier = TokenVerifier(source, issuer=DEV_ISSUER)
    hmac_token = jwt.encode(
        _claims(role="operator", sub="operator"), secret, "HS256", headers={"kid": "shared"}
    )
    header = _segment({"alg": "HS256", "kid": dev_key.kid})
    payload = _segment(_claims(role="operator", sub="operator"))
    pem = _public_secrets(dev_key)[0]
    confused = f"{header}.{payload}." + _b64(
        hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    )

    assert (await verifier.verify(_signed(dev_key, _claims()))).subject == "amina-1"
    assert "HS256" in await _refused(verifier, hmac_token)
    assert "only ES256" in await _refused(verifier, confused)
    assert "no key" in await _refused(verifier, _signed(dev_key, _claims(), kid="unknown"))
    assert fetched
    assert set(fetched) == {"https://idp.example/.well-known/jwks.json"}


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://idp.example/jwks", "jwks.json"])
def test_a_jwks_url_that_is_not_http_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        KeySource(jwks_url=url)
