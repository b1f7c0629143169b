"""The services' HTTP APIs, called with the visitor's own token: they decide who may do what.

Every answer the pages cannot use becomes an `ApiError` carrying the problem document, so the
pages say what happened ("not yours", "try again in a moment") instead of failing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from nnmatch.audit import REQUEST_ID_HEADER
from nnmatch.problems import RETRY_AFTER_S
from nnmatch_web.settings import WebSettings

UNAVAILABLE = 503


T = TypeVar("T")


@dataclass
class ApiError(Exception):
    """A service answered 4xx/5xx, or did not answer (status 503)."""

    status: int
    detail: str
    problem: dict[str, Any] = field(default_factory=dict)
    retry_after: str | None = None

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


async def unless_missing(call: Awaitable[T]) -> T | None:
    """An API's answer, or None where it answers 404 (nothing saved yet, or gone since)."""
    try:
        return await call
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


@dataclass(frozen=True)
class Probe:
    """What an open ops endpoint answered (None: it did not answer)."""

    status: int | None
    body: Any = None
    text: str | None = None


def _m(member_id: str) -> str:
    return quote(member_id, safe="")


class Apis:
    """One pooled HTTP client for the three services."""

    def __init__(self, settings: WebSettings, transport: httpx.AsyncBaseTransport | None = None):
        self.urls = {
            "profiles": settings.profiles_url.rstrip("/"),
            "matching": settings.matching_url.rstrip("/"),
            "notifications": settings.notifications_url.rstrip("/"),
        }
        self._http = httpx.AsyncClient(
            timeout=settings.web_api_timeout_s,
            transport=transport,
            headers={"user-agent": "nnmatch-web"},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Any:
        url = f"{self.urls[service]}{path}"
        headers = {"authorization": f"Bearer {token}"}
        if request_id is not None:  # one id across the services a page calls (the audit trail)
            headers[REQUEST_ID_HEADER] = request_id
        try:
            response = await self._http.request(
                method,
                url,
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers=headers,
            )
        except httpx.TimeoutException as exc:
            raise ApiError(
                UNAVAILABLE,
                f"the {service} service did not answer in time",
                retry_after=RETRY_AFTER_S,
            ) from exc
        except httpx.HTTPError as exc:
            raise ApiError(
                UNAVAILABLE, f"the {service} service cannot be reached", retry_after=RETRY_AFTER_S
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # --- profiles
    async def profile(self, token: str, member_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles", "GET", f"/v1/members/{_m(member_id)}", token
        )
        return result

    async def put_profile(self, token: str, member_id: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles", "PUT", f"/v1/members/{_m(member_id)}", token, json=body
        )
        return result

    async def erase_member(self, token: str, member_id: str) -> None:
        """The end-to-end erasure (the member themself, or an operator on request)."""
        await self._call("profiles", "DELETE", f"/v1/members/{_m(member_id)}", token)

    # --- matching
    async def matches(
        self, token: str, member_id: str, limit: int, cursor: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "matching",
            "GET",
            f"/v1/members/{_m(member_id)}/matches",
            token,
            params={"limit": limit, "cursor": cursor},
        )
        return result

    async def member_projects(self, token: str, member_id: str, limit: int) -> dict[str, Any]:
        """Open projects that fit the member (served where the hubs role runs)."""
        result: dict[str, Any] = await self._call(
            "matching",
            "GET",
            f"/v1/members/{_m(member_id)}/projects",
            token,
            params={"limit": limit},
        )
        return result

    async def feedback(self, token: str, member_id: str, candidate_id: str, action: str) -> None:
        await self._call(
            "matching",
            "POST",
            f"/v1/members/{_m(member_id)}/feedback",
            token,
            json={"candidate_id": candidate_id, "action": action},
        )

    async def search(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "matching", "POST", "/v1/search", token, json=body
        )
        return result

    # --- hubs (profiles, matching)
    async def hub(self, token: str, hub_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles", "GET", f"/v1/hubs/{_m(hub_id)}", token
        )
        return result

    async def put_hub(self, token: str, hub_id: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles", "PUT", f"/v1/hubs/{_m(hub_id)}", token, json=body
        )
        return result

    async def projects(self, token: str, hub_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles", "GET", f"/v1/hubs/{_m(hub_id)}/projects", token
        )
        return result

    async def project(self, token: str, hub_id: str, project_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles", "GET", f"/v1/hubs/{_m(hub_id)}/projects/{_m(project_id)}", token
        )
        return result

    async def put_project(
        self, token: str, hub_id: str, project_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles", "PUT", f"/v1/hubs/{_m(hub_id)}/projects/{_m(project_id)}", token, json=body
        )
        return result

    async def shortlist(self, token: str, hub_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles", "GET", f"/v1/hubs/{_m(hub_id)}/shortlist", token
        )
        return result

    async def change_shortlist(
        self, token: str, hub_id: str, member_id: str, add: bool
    ) -> dict[str, Any]:
        """Put the member on the hub's shared shortlist, or take them off; the list after."""
        result: dict[str, Any] = await self._call(
            "profiles",
            "PUT" if add else "DELETE",
            f"/v1/hubs/{_m(hub_id)}/shortlist/{_m(member_id)}",
            token,
        )
        return result

    async def partners(self, token: str, hub_id: str, scope: str, limit: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "matching",
            "GET",
            f"/v1/hubs/{_m(hub_id)}/partners",
            token,
            params={"scope": scope, "limit": limit},
        )
        return result

    async def choose_partner(
        self, token: str, hub_id: str, partner_id: str, action: str
    ) -> dict[str, Any]:
        """`action` is accept or dismiss; the answer says whether both sides accepted."""
        result: dict[str, Any] = await self._call(
            "matching",
            "POST",
            f"/v1/hubs/{_m(hub_id)}/partners/{_m(partner_id)}/{quote(action, safe='')}",
            token,
        )
        return result

    async def candidates(
        self, token: str, hub_id: str, project_id: str, limit: int, cursor: str | None = None
    ) -> dict[str, Any]:
        """The members who fit the project, best first, with reasons (409: it is closed)."""
        result: dict[str, Any] = await self._call(
            "matching",
            "GET",
            f"/v1/hubs/{_m(hub_id)}/projects/{_m(project_id)}/candidates",
            token,
            params={"limit": limit, "cursor": cursor},
        )
        return result

    # --- notifications
    async def inbox(
        self, token: str, member_id: str, limit: int, cursor: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "notifications",
            "GET",
            f"/v1/members/{_m(member_id)}/inbox",
            token,
            params={"limit": limit, "cursor": cursor},
        )
        return result

    async def mark_read(self, token: str, member_id: str, item_id: str) -> None:
        await self._call(
            "notifications",
            "POST",
            f"/v1/members/{_m(member_id)}/inbox/{quote(item_id, safe='')}/read",
            token,
        )

    async def inbox_feedback(self, token: str, member_id: str, item_id: str, action: str) -> None:
        await self._call(
            "notifications",
            "POST",
            f"/v1/members/{_m(member_id)}/inbox/{quote(item_id, safe='')}/feedback",
            token,
            json={"action": action},
        )

    async def invite(
        self, token: str, hub_id: str, project_id: str, member_id: str
    ) -> dict[str, Any]:
        """Invite the member to the hub's project; the same invitation when invited before."""
        result: dict[str, Any] = await self._call(
            "notifications",
            "POST",
            f"/v1/hubs/{_m(hub_id)}/projects/{_m(project_id)}/invitations",
            token,
            json={"member_id": member_id},
        )
        return result

    async def invitations(self, token: str, hub_id: str, project_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "notifications",
            "GET",
            f"/v1/hubs/{_m(hub_id)}/projects/{_m(project_id)}/invitations",
            token,
        )
        return result

    async def answer_invitation(
        self, token: str, member_id: str, invitation_id: str, accept: bool
    ) -> dict[str, Any]:
        """The member accepts or declines a project invitation; the invitation after."""
        answer = "accept" if accept else "decline"
        result: dict[str, Any] = await self._call(
            "notifications",
            "POST",
            f"/v1/members/{_m(member_id)}/invitations/{quote(invitation_id, safe='')}/{answer}",
            token,
        )
        return result

    async def preferences(self, token: str, member_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "notifications", "GET", f"/v1/members/{_m(member_id)}/preferences", token
        )
        return result

    async def put_preferences(
        self, token: str, member_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "notifications", "PUT", f"/v1/members/{_m(member_id)}/preferences", token, json=body
        )
        return result

    async def contact(self, token: str, member_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "notifications", "GET", f"/v1/members/{_m(member_id)}/contact", token
        )
        return result

    async def put_contact(self, token: str, member_id: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "notifications", "PUT", f"/v1/members/{_m(member_id)}/contact", token, json=body
        )
        return result

    # --- operators
    async def audit(
        self, token: str, limit: int, cursor: str | None = None, target: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles",
            "GET",
            "/v1/audit",
            token,
            params={"limit": limit, "cursor": cursor, "target": target},
        )
        return result

    async def operator_lookup(
        self, service: str, token: str, member_id: str, request_id: str
    ) -> dict[str, Any]:
        """`service`'s part of the member lookup (profiles, matching or notifications)."""
        result: dict[str, Any] = await self._call(
            service, "GET", f"/v1/operators/members/{_m(member_id)}", token, request_id=request_id
        )
        return result

    async def export(
        self, service: str, token: str, member_id: str, request_id: str
    ) -> dict[str, Any]:
        """Everything `service` holds about the member (their own token, or an operator's)."""
        result: dict[str, Any] = await self._call(
            service, "GET", f"/v1/members/{_m(member_id)}/export", token, request_id=request_id
        )
        return result

    async def members_named(self, token: str, name: str, limit: int = 20) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "matching",
            "GET",
            "/v1/operators/members",
            token,
            params={"name": name, "limit": limit},
        )
        return result

    async def operator_contact(self, token: str, member_id: str, request_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "notifications",
            "GET",
            f"/v1/operators/members/{_m(member_id)}/contact",
            token,
            request_id=request_id,
        )
        return result

    # --- reports and suspensions (profiles)
    async def file_report(self, token: str, member_id: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles", "POST", f"/v1/members/{_m(member_id)}/reports", token, json=body
        )
        return result

    async def reports(self, token: str, limit: int, cursor: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles",
            "GET",
            "/v1/reports",
            token,
            params={"status": "open", "limit": limit, "cursor": cursor},
        )
        return result

    async def dismiss_report(self, token: str, report_id: str) -> None:
        await self._call(
            "profiles", "POST", f"/v1/reports/{quote(report_id, safe='')}/dismiss", token
        )

    async def suspend(self, token: str, member_id: str, report_id: str | None) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "profiles",
            "POST",
            f"/v1/members/{_m(member_id)}/suspension",
            token,
            json={"report_id": report_id},
        )
        return result

    async def unsuspend(self, token: str, member_id: str) -> None:
        await self._call("profiles", "DELETE", f"/v1/members/{_m(member_id)}/suspension", token)

    # --- open ops endpoints (the operators' status page)
    async def probe(self, service: str, path: str) -> Probe:
        try:
            response = await self._http.get(f"{self.urls[service]}{path}", timeout=3.0)
        except httpx.HTTPError:
            return Probe(status=None)
        body: Any = None
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                body = response.json()
            except ValueError:
                body = None
        return Probe(status=response.status_code, body=body, text=response.text)


def _error(response: httpx.Response) -> ApiError:
    problem: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            problem = parsed
    except ValueError:
        pass
    detail = str(problem.get("detail") or response.reason_phrase or "error")
    return ApiError(
        status=response.status_code,
        detail=detail,
        problem=problem,
        retry_after=response.headers.get("retry-after"),
    )
