"""`python -m nnmatch.devauth`: what compose's dev-auth container runs from the service image."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnmatch import devauth
from nnmatch.auth import DEV_ISSUER, DEV_JWKS_FILE, KeySource, Role, TokenVerifier


async def test_devauth_creates_the_jwks_and_mints_a_token_it_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert devauth.main(["--dir", str(tmp_path), "--member", "m-0042"]) == 0
    token = capsys.readouterr().out.strip()
    verifier = TokenVerifier(KeySource(jwks_file=tmp_path / DEV_JWKS_FILE), issuer=DEV_ISSUER)
    principal = await verifier.verify(token)
    assert (principal.role, principal.subject) == (Role.MEMBER, "m-0042")


def test_devauth_without_a_role_only_creates_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert devauth.main(["--dir", str(tmp_path)]) == 0
    assert (tmp_path / DEV_JWKS_FILE).stat().st_size > 0
    assert capsys.readouterr().out == ""


def test_devauth_refuses_a_malformed_id(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        devauth.main(["--dir", str(tmp_path), "--hub", "not an id"])
    assert exited.value.code == 2
