"""Session fixtures: attach to (or start) the real broker and Redis once; a namespace per test.

Tests that need the broker or Redis fail when neither can be had: they never skip. Each test
gets its own topic prefix and Redis key prefix, and removes both afterwards, so tests run in
any order and leave nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from nnmatch_tools import devstack
from tests.support import STATE_DIR, Namespace, forget, new_namespace


@pytest.fixture(scope="session")
def stack() -> Iterator[devstack.DevStack]:
    """The real broker and Redis: from the environment, else started here (and stopped after
    the last pytest session using it ends: sessions running side by side share it)."""
    users = STATE_DIR / "users"
    users.mkdir(parents=True, exist_ok=True)
    me = users / str(os.getpid())
    me.touch()
    try:
        dev = devstack.up(STATE_DIR, timeout=60)
    except devstack.DevStackError as exc:
        pytest.fail(f"the broker or Redis is unavailable, and tests never skip: {exc}")
    yield dev
    me.unlink(missing_ok=True)
    if not any(_alive(int(other.name)) for other in users.iterdir() if other.name.isdigit()):
        devstack.down(STATE_DIR)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture
async def namespace(stack: devstack.DevStack) -> AsyncIterator[Namespace]:
    ns = new_namespace(stack)
    yield ns
    await forget(ns)
