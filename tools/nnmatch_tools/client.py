"""A small HTTP client for the services' APIs, used by the CLI, the demo and the tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from nnmatch.auth import Role, TokenSource
from nnmatch.hub import HubProfile, ProjectProfile
from nnmatch.profile import BulkProfileLine


class ApiError(RuntimeError):
    """A service answered with an error; carries the problem document's detail."""

    def __init__(self, response: httpx.Response) -> None:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        super().__init__(
            f"{response.request.method} {response.request.url} → {response.status_code}: {detail}"
        )
        self.status_code = response.status_code


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise ApiError(response)
    return response.json()


class NnmatchClient:
    """Calls each route with the token of whoever may call it (operator, or the member)."""

    def __init__(
        self,
        tokens: TokenSource,
        profiles_url: str,
        matching_url: str | None = None,
        notifications_url: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.profiles_url = profiles_url.rstrip("/")
        self.matching_url = (matching_url or "").rstrip("/")
        self.notifications_url = (notifications_url or "").rstrip("/")
        self._tokens = tokens
        self._http = httpx.Client(timeout=timeout)

    def _auth(self, role: Role, subject: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {self._tokens.token(role, subject)}"}

    def close(self) -> None:
        self._http.close()

    def bulk_import(self, lines: Iterable[BulkProfileLine]) -> dict[str, Any]:
        body = "\n".join(line.model_dump_json() for line in lines).encode("utf-8")
        response = self._http.post(
            f"{self.profiles_url}/v1/members/bulk",
            content=body,
            headers={"content-type": "application/x-ndjson"} | self._auth(Role.OPERATOR),
        )
        result: dict[str, Any] = _checked(response)
        return result

    def put_hub(self, hub_id: str, hub: HubProfile) -> dict[str, Any]:
        response = self._http.put(
            f"{self.profiles_url}/v1/hubs/{hub_id}",
            content=hub.model_dump_json(),
            headers={"content-type": "application/json"} | self._auth(Role.OPERATOR),
        )
        result: dict[str, Any] = _checked(response)
        return result

    def put_project(self, hub_id: str, project_id: str, project: ProjectProfile) -> dict[str, Any]:
        response = self._http.put(
            f"{self.profiles_url}/v1/hubs/{hub_id}/projects/{project_id}",
            content=project.model_dump_json(),
            headers={"content-type": "application/json"} | self._auth(Role.OPERATOR),
        )
        result: dict[str, Any] = _checked(response)
        return result

    def matches(self, member_id: str, limit: int = 20) -> dict[str, Any]:
        response = self._http.get(
            f"{self.matching_url}/v1/members/{member_id}/matches",
            params={"limit": limit},
            headers=self._auth(Role.MEMBER, member_id),
        )
        result: dict[str, Any] = _checked(response)
        return result

    def hub_partners(self, hub_id: str, scope: str = "anywhere", limit: int = 10) -> dict[str, Any]:
        response = self._http.get(
            f"{self.matching_url}/v1/hubs/{hub_id}/partners",
            params={"scope": scope, "limit": limit},
            headers=self._auth(Role.HUB, hub_id),
        )
        result: dict[str, Any] = _checked(response)
        return result

    def project_candidates(self, hub_id: str, project_id: str, limit: int = 10) -> dict[str, Any]:
        """A project's ranked candidates, as its hub reads them (404 until matching has it)."""
        response = self._http.get(
            f"{self.matching_url}/v1/hubs/{hub_id}/projects/{project_id}/candidates",
            params={"limit": limit},
            headers=self._auth(Role.HUB, hub_id),
        )
        result: dict[str, Any] = _checked(response)
        return result

    def member_projects(self, member_id: str, limit: int = 5) -> dict[str, Any]:
        """The open projects that fit a member best, as the member reads them."""
        response = self._http.get(
            f"{self.matching_url}/v1/members/{member_id}/projects",
            params={"limit": limit},
            headers=self._auth(Role.MEMBER, member_id),
        )
        result: dict[str, Any] = _checked(response)
        return result

    def inbox(self, member_id: str, limit: int = 20) -> dict[str, Any]:
        response = self._http.get(
            f"{self.notifications_url}/v1/members/{member_id}/inbox",
            params={"limit": limit},
            headers=self._auth(Role.MEMBER, member_id),
        )
        result: dict[str, Any] = _checked(response)
        return result


def scrape(*urls: str, timeout: float = 5.0) -> dict[str, list[tuple[dict[str, str], float]]]:
    """`/metrics` pages as {sample name: [(labels, value), ...]}: several URLs (one service's
    processes, say an embedder and a matcher) read as one page."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for url in urls:
        text = httpx.get(f"{url.rstrip('/')}/metrics", timeout=timeout).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def metric_sum(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    """Sum of a metric's samples whose labels include `labels`."""
    return sum(
        value
        for sample_labels, value in samples.get(name, [])
        if all(sample_labels.get(k) == v for k, v in labels.items())
    )
