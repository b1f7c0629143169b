"""Who is visiting: the identity provider's token, kept in an HttpOnly cookie, verified here.

The pages verify the token with the same JWKS verifier as the APIs (so a forged cookie never
shows a page), then pass it on to the APIs, which decide what it may read and write. Forms are
protected against cross-site forgery three ways: cookies are `SameSite=Strict`, every form
carries a token bound to this browser's anti-forgery cookie, and a foreign `Origin` or
`Sec-Fetch-Site: cross-site` is refused.

Sign-in seams: on the dev stack (`NNMATCH_WEB_DEV_AUTH_DIR` set) the page mints a token with
the dev signing key for any member, hub or operator; in production the identity provider's
token arrives pasted into the sign-in form, or in a header set by a sign-in proxy in front of
the pages (`NNMATCH_WEB_TOKEN_HEADER`, e.g. oauth2-proxy's `X-Forwarded-Access-Token`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from fastapi import Request, Response

from nnmatch.auth import DEV_KEY_FILE, DevSigningKey, InvalidToken, Principal, Role, TokenVerifier
from nnmatch.webapp import ConfigurationError
from nnmatch_web.settings import WebSettings
from nnmatch_web.views import Form, first

SESSION_COOKIE = "nnmatch_session"
CSRF_COOKIE = "nnmatch_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
DEV_TOKEN_TTL_S = 8 * 3600
_SEED = re.compile(r"[A-Za-z0-9_-]{43}")


class SignInRequired(Exception):
    """No valid token: the visitor is sent to the sign-in page, then back to `next`."""

    def __init__(self, next_path: str, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.next_path = next_path
        self.reason = reason


class NotAllowed(Exception):
    """A page the pages themselves gate (the operators' status page) for someone else."""


class HubOnly(Exception):
    """A hub's own page (its profile, partners, projects, shortlist) for a visitor signed in
    without a hub token: there is no hub to show."""


class ForgedRequest(Exception):
    """A form without this browser's anti-forgery token, or from another site."""


@dataclass(frozen=True)
class Visitor:
    """A signed-in visitor: who the token names, and the token to call the APIs with."""

    principal: Principal
    token: str
    expires_at: float

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def member_id(self) -> str | None:
        return self.principal.subject if self.principal.role is Role.MEMBER else None

    @property
    def hub_id(self) -> str | None:
        """The hub a hub token acts for (any of its leaders); None for everyone else."""
        return self.principal.hub if self.principal.role is Role.HUB else None

    @property
    def home(self) -> str:
        if self.principal.role is Role.MEMBER:
            return f"/members/{self.principal.subject}/matches"
        if self.principal.role is Role.HUB:
            return "/hub/search"
        return "/status"


class Sessions:
    """Reads, verifies, sets and clears the visitor's token; mints dev tokens on a dev stack."""

    def __init__(self, settings: WebSettings, verifier: TokenVerifier) -> None:
        self._verifier = verifier
        self._secure = settings.web_cookie_secure
        self._header = settings.web_token_header.lower() if settings.web_token_header else None
        key = settings.web_session_key
        self._key = key.get_secret_value().encode() if key else secrets.token_bytes(32)
        self._issuer = settings.auth_issuer
        self._audience = settings.auth_audience
        self._dev_key = _dev_key(settings.web_dev_auth_dir)

    @property
    def dev_sign_in(self) -> bool:
        return self._dev_key is not None

    # --- who is visiting
    async def visitor(self, request: Request) -> Visitor | None:
        """The verified visitor, or None (no token, or one that does not verify)."""
        cached: Visitor | None = getattr(request.state, "visitor", None)
        if cached is not None:
            return cached
        token = (request.headers.get(self._header) if self._header else None) or (
            request.cookies.get(SESSION_COOKIE)
        )
        if not token:
            return None
        try:
            visitor = await self.verify(token)
        except InvalidToken:
            return None
        request.state.visitor = visitor
        return visitor

    async def verify(self, token: str) -> Visitor:
        token = token.strip().removeprefix("Bearer ").strip()
        principal = await self._verifier.verify(token)
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return Visitor(principal=principal, token=token, expires_at=float(claims["exp"]))

    def has_session(self, request: Request) -> bool:
        return SESSION_COOKIE in request.cookies

    def start(self, request: Request, response: Response, visitor: Visitor) -> None:
        """Keep the token in an HttpOnly, SameSite=Strict cookie until it expires."""
        response.set_cookie(
            SESSION_COOKIE,
            visitor.token,
            max_age=max(60, int(visitor.expires_at - time.time())),
            httponly=True,
            samesite="strict",
            secure=self.secure(request),
            path="/",
        )

    def end(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, httponly=True, samesite="strict", secure=self.secure(request), path="/"
        )

    def secure(self, request: Request) -> bool:
        return self._secure or request.url.scheme == "https"

    # --- dev stack
    def mint_dev(self, role: Role, ident: str) -> str:
        """A token signed with the dev key, as `nnmatch token issue` makes (dev stack only)."""
        if self._dev_key is None:
            raise InvalidToken("dev sign-in is not configured here")
        if role is Role.HUB:
            subject, hub = f"hub-{ident}", ident
        else:
            subject, hub = ident, None
        return self._dev_key.mint(
            role,
            subject,
            hub=hub,
            ttl_s=DEV_TOKEN_TTL_S,
            issuer=self._issuer,
            audience=self._audience,
        )

    # --- cross-site request forgery
    def csrf_token(self, seed: str) -> str:
        """The token forms carry: bound to this browser's anti-forgery cookie by our key."""
        return hmac.new(self._key, seed.encode(), hashlib.sha256).hexdigest()

    def check_form(self, request: Request, form: Form) -> None:
        """Refuse a form from another site or without this browser's token."""
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise ForgedRequest("the form was sent from another site")
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            raise ForgedRequest("the form was sent from another site")
        seed = request.cookies.get(CSRF_COOKIE, "")
        sent = first(form, CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
        if not _SEED.fullmatch(seed) or not hmac.compare_digest(sent, self.csrf_token(seed)):
            raise ForgedRequest("the form's anti-forgery token is missing or stale")


def new_csrf_seed() -> str:
    return secrets.token_urlsafe(32)


def valid_seed(seed: str | None) -> bool:
    return bool(seed and _SEED.fullmatch(seed))


def _dev_key(directory: Path | None) -> DevSigningKey | None:
    """The dev signing key, only where it exists already (never created by the web pages)."""
    if directory is None:
        return None
    if not (directory / DEV_KEY_FILE).is_file():
        raise ConfigurationError(
            f"NNMATCH_WEB_DEV_AUTH_DIR={directory} holds no {DEV_KEY_FILE}: run `nnmatch dev up` "
            "(or unset it: dev sign-in is for the dev stack only)"
        )
    return DevSigningKey.load_or_create(directory)
