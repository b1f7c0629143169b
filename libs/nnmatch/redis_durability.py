"""Is this Redis safe to keep nnmatch's state in? Checked at every service's start.

Inboxes, dedupe keys and read models are state, not cache: a Redis that may evict keys can
silently re-send a suggestion or lose one, and one that keeps nothing on disk loses them all
on restart. The members' data keys (`nnmatch.member_keys`) live here too: losing one makes
every sealed field of that member unreadable, as an erasure would. A service refuses to start
on such a server, naming the setting to change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)

OPT_OUT = "NNMATCH_REDIS_REQUIRE_DURABLE=false"
# Asked one at a time: CONFIG GET takes several patterns only from Redis 7.
DURABILITY_SETTINGS = ("maxmemory-policy", "appendonly", "save")


def durability_problems(config: dict[str, str]) -> list[str]:
    """What is unsafe in a Redis `CONFIG GET` answer; each names the fix."""
    problems = []
    policy = config.get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        problems.append(
            f"maxmemory-policy is {policy}: Redis may evict inbox and dedupe keys, so a "
            "suggestion could be lost or sent twice; set `maxmemory-policy noeviction`"
        )
    if config.get("appendonly", "no") != "yes" and not config.get("save", "").strip():
        problems.append(
            'Redis keeps nothing on disk (appendonly no, save ""): a restart loses every '
            "inbox and dedupe key; set `appendonly yes` (or a `save` schedule), or "
            f"{OPT_OUT} for throwaway data"
        )
    return problems


async def redis_config(redis: Redis) -> dict[str, str] | None:
    """The settings that matter, or None when CONFIG is disabled (some managed services)."""
    config: dict[str, str] = {}
    try:
        for name in DURABILITY_SETTINGS:
            config |= config_text(await redis.config_get(name))
    except ResponseError:
        return None
    return config


def config_text(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A CONFIG GET answer with bytes decoded (clients may or may not decode)."""
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
