"""Schemathesis against each service's OpenAPI document, in-process, over the real broker and Redis.

Every operation gets generated requests (valid and invalid); a 5xx, an undocumented status
code, content type or header, or a body that does not match the schema fails the test. The
apps run through Schemathesis' own ASGI transport (its event loop runs their lifespan too), with
an operator token, or for member-only routes a token for the member in the generated path.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.auths import AuthStorage
from schemathesis.core.result import Err
from schemathesis.python import asgi

from nnmatch.profile import MEMBER_ID_PATTERN
from nnmatch_matching.bootstrap import build_app as build_matching
from nnmatch_matching.settings import MatchingSettings
from nnmatch_notifications.bootstrap import build_app as build_notifications
from nnmatch_notifications.settings import NotificationsSettings
from nnmatch_profiles.bootstrap import build_app as build_profiles
from nnmatch_profiles.settings import ProfilesSettings
from nnmatch_tools import devstack
from tests.support import Namespace, as_member, as_operator, forget, new_namespace

pytestmark = pytest.mark.integration

# Bounded so the whole file runs in about a minute on two busy cores.
FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
READY_TIMEOUT_S = 60.0
# Not checked: "schema-valid data is accepted". The OpenAPI cannot say which two-letter codes
# are ISO countries and languages, nor which opaque cursors this server issued, so valid-looking
# values get a documented 400/422. Everything else is: no 5xx, documented statuses, content
# types and headers, bodies that match their schema, auth enforced (each operation is replayed
# without and with a bad token), and invalid data refused with a 4xx (413 included: an oversized
# body is refused before it is parsed). Bulk import is exempt from the last one: it is NDJSON
# text, where every string is a valid request whose bad lines are reported in a 200.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            },
        },
        "operations": [
            {
                "include-path": "/v1/members/bulk",
                "checks": {"negative_data_rejection": {"enabled": False}},
            }
        ],
    }
)
MEMBER_ID = re.compile(MEMBER_ID_PATTERN)
FuzzCase = schemathesis.Case[Any]

# Bulk import takes NDJSON: generated strings go on the wire as they are.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@pytest.fixture(scope="module")
async def fuzz_namespace(stack: devstack.DevStack) -> AsyncIterator[Namespace]:
    namespace = new_namespace(stack)
    yield namespace
    await forget(namespace)


def _fuzz_settings(namespace: Namespace) -> dict[str, Any]:
    # Limits high enough that the fuzzer exercises the handlers, not just the 429.
    return namespace.settings(rate_limit_writes="100000/minute", rate_limit_search="100000/minute")


def _started(app: FastAPI) -> schemathesis.BaseSchema:
    """The app's schema, with the app started (lifespan) on Schemathesis' loop and ready."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    with asgi.get_client(cast(Any, app)) as client:
        for _ in range(int(READY_TIMEOUT_S / 0.2)):
            ready = client.get("/readyz")
            if ready.status_code == 200:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"app not ready: {ready.text}")
    return schema


@pytest.fixture(scope="module")
def _lifespans() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def profiles_schema(fuzz_namespace: Namespace, _lifespans: None) -> schemathesis.BaseSchema:
    return _started(build_profiles(ProfilesSettings(**_fuzz_settings(fuzz_namespace))))


@pytest.fixture(scope="module")
def matching_schema(fuzz_namespace: Namespace, _lifespans: None) -> schemathesis.BaseSchema:
    # The matcher role (index replayed from the topic) and the hubs role (it loads the model to
    # embed hubs and projects), so project candidates answer rather than 503.
    roles = {"roles": ["matcher", "hubs"]}
    settings_ = MatchingSettings(**_fuzz_settings(fuzz_namespace) | roles)
    return _started(build_matching(settings_))


@pytest.fixture(scope="module")
def notifications_schema(fuzz_namespace: Namespace, _lifespans: None) -> schemathesis.BaseSchema:
    return _started(build_notifications(NotificationsSettings(**_fuzz_settings(fuzz_namespace))))


class OperatorToken:
    """Schemathesis auth provider: an operator's bearer token on every generated request."""

    def get(self, case: FuzzCase, ctx: schemathesis.AuthContext) -> str:
        return as_operator()["authorization"]

    def set(self, case: FuzzCase, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = data


class PathMemberToken(OperatorToken):
    """For member-only routes: a token for the member the generated path names (if valid)."""

    def get(self, case: FuzzCase, ctx: schemathesis.AuthContext) -> str:
        member_id = (case.path_parameters or {}).get("member_id")
        if isinstance(member_id, str) and MEMBER_ID.fullmatch(member_id):
            return as_member(member_id)["authorization"]
        return super().get(case, ctx)


def _auth(provider: type[OperatorToken]) -> AuthStorage[str]:
    storage: AuthStorage[str] = AuthStorage()
    storage.auth(refresh_interval=None)(provider)  # asked per case: tokens differ by path
    return storage


def _fuzz(schema: schemathesis.BaseSchema, provider: type[OperatorToken]) -> tuple[list[str], int]:
    """Run every operation with valid and invalid data; the findings, and how many calls."""
    findings: list[str] = []
    calls = 0
    auth = _auth(provider)
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            findings.append(f"the schema is invalid: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode, auth_storage=auth))
            def run(case: FuzzCase) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate()

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # a failed check, shrunk
                findings.append(f"{operation.label} ({mode}): {exc}")
    return findings, calls


def test_profiles_api_conforms_and_never_fails(profiles_schema: schemathesis.BaseSchema) -> None:
    findings, calls = _fuzz(profiles_schema, OperatorToken)

    assert not findings, "\n\n".join(findings)
    # members (four operations), hubs and projects (seven), both modes, some examples each
    assert calls >= 11 * 2 * 10


def test_matching_api_conforms_and_never_fails(matching_schema: schemathesis.BaseSchema) -> None:
    findings, calls = _fuzz(matching_schema, OperatorToken)

    assert not findings, "\n\n".join(findings)
    assert calls >= 2 * 10


def test_notifications_api_conforms_and_never_fails(
    notifications_schema: schemathesis.BaseSchema,
) -> None:
    findings, calls = _fuzz(notifications_schema, PathMemberToken)

    assert not findings, "\n\n".join(findings)
    assert calls >= 2 * 10
