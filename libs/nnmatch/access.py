"""Who may call which route: FastAPI dependencies over a verified bearer token, plus limits.

One rule for every service: a token for another member's resource gets **403**, decided from
the token alone before anything is looked up, so the answer never says whether that member
exists. A missing or bad token gets 401 with a `WWW-Authenticate` header. Rate limits are per
token, shared by every replica through Redis, and answer 429 with `Retry-After`.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from nnmatch.auth import InvalidToken, Principal, Role, TokenVerifier
from nnmatch.hub import HUB_ID_PATTERN, PROJECT_ID_PATTERN
from nnmatch.problems import Problem
from nnmatch.profile import MEMBER_ID_PATTERN

MemberIdPath = Annotated[
    str, Path(pattern=MEMBER_ID_PATTERN, description="Member id: letters, digits, _ or -.")
]
HubIdPath = Annotated[
    str, Path(pattern=HUB_ID_PATTERN, description="Hub id: letters, digits, _ or -.")
]
ProjectIdPath = Annotated[
    str,
    Path(
        pattern=PROJECT_ID_PATTERN,
        description="Project id within its hub: letters, digits, _ or -.",
    ),
]

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from the community's identity provider (dev: `nnmatch token issue`).",
)

NO_CREDENTIALS_HINT = (
    "send `Authorization: Bearer <token>` (dev stack: `nnmatch token issue --member ID`)"
)


def _unauthorized(detail: str, error: str | None = None) -> Problem:
    challenge = 'Bearer realm="nnmatch"' + (f', error="{error}"' if error else "")
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller named by a valid bearer token; 401 otherwise."""
    if credentials is None:
        raise _unauthorized(NO_CREDENTIALS_HINT)
    verifier: TokenVerifier = request.app.state.verifier
    try:
        principal = await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized(str(exc), "invalid_token") from exc
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail)


async def member_or_operator(member_id: MemberIdPath, principal: CurrentPrincipal) -> Principal:
    """The member themself, or an operator."""
    if not principal.acts_for(member_id):
        raise _forbidden("this token may only access its own member's resources")
    return principal


async def member_only(member_id: MemberIdPath, principal: CurrentPrincipal) -> Principal:
    """The member themself; not even an operator (their inbox, contact, preferences)."""
    if principal.role is not Role.MEMBER or principal.subject != member_id:
        raise _forbidden("only the member themself may access this resource")
    return principal


async def hub_manager(hub_id: HubIdPath, principal: CurrentPrincipal) -> Principal:
    """The hub's own token, or an operator: the only ones who change a hub or its projects."""
    if not principal.manages_hub(hub_id):
        raise _forbidden("this token may only change its own hub")
    return principal


def require_role(*roles: Role) -> Any:
    """A dependency admitting only tokens with one of `roles`."""
    names = " or ".join(str(r) for r in roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise _forbidden(f"this needs a {names} token")
        return principal

    return Depends(check)


OWNER_OR_OPERATOR: Any = Depends(member_or_operator)
OWNER_ONLY: Any = Depends(member_only)
HUB_OR_OPERATOR: Any = Depends(hub_manager)


class RateLimits:
    """Per-token moving-window limits by category ("writes", "search"), kept in Redis."""

    def __init__(self, redis_url: str, prefix: str, limits_by_category: dict[str, str]) -> None:
        self._storage = RedisStorage(
            redis_url.replace("redis://", "async+redis://", 1).replace(
                "rediss://", "async+rediss://", 1
            ),
            implementation="redispy",
            key_prefix=f"{prefix}ratelimit",
        )
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._items: dict[str, RateLimitItem] = {
            category: parse(spec) for category, spec in limits_by_category.items()
        }

    async def hit(self, category: str, principal: Principal) -> float | None:
        """None when allowed, else the seconds until the caller may try again."""
        item = self._items[category]
        if await self._limiter.hit(item, category, principal.rate_key):
            return None
        stats = await self._limiter.get_window_stats(item, category, principal.rate_key)
        return max(1.0, stats.reset_time - time.time())


def rate_limited(category: str) -> Any:
    """A dependency that counts this request against the caller's `category` limit."""

    async def check(request: Request, principal: CurrentPrincipal) -> Principal:
        limits: RateLimits = request.app.state.rate_limits
        wait = await limits.hit(category, principal)
        if wait is not None:
            raise Problem(
                429,
                "Too many requests",
                f"rate limit for {category} reached; retry in {math.ceil(wait)} s",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        return principal

    return Depends(check)
