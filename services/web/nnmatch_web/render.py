"""Jinja2 templates (autoescaped) with what every page needs: the visitor, the form token,
the navigation, and security headers that keep pages private and scripts our own."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from nnmatch.profile import SDG_NAMES
from nnmatch.reasons import reason_sentence
from nnmatch.regions import REGIONS
from nnmatch_web import catalogue
from nnmatch_web.session import Sessions, Visitor
from nnmatch_web.views import INVITATION_STATUS_LABELS, score_view

SECURITY_HEADERS = {
    # Scripts and styles only from this origin (htmx is vendored): no inline code, no CDN.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
PRIVATE = {"cache-control": "no-store"}


class Pages:
    """Renders a template into a response; fragments for htmx requests use the same way."""

    def __init__(self, sessions: Sessions, links: dict[str, str]) -> None:
        self.sessions = sessions
        self.env = Environment(
            loader=PackageLoader("nnmatch_web", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            SDG_NAMES=SDG_NAMES,
            KIND_LABELS=catalogue.KIND_LABELS,
            ORGANISATION_LABELS=catalogue.ORGANISATION_LABELS,
            REGIONS=REGIONS,
            CHANNEL_LABELS=catalogue.CHANNEL_LABELS,
            FREQUENCY_LABELS=catalogue.FREQUENCY_LABELS,
            countries=catalogue.countries,
            time_zones=catalogue.time_zones,
            links=links,
            INVITATION_STATUS_LABELS=INVITATION_STATUS_LABELS,
        )
        self.env.filters.update(
            country_name=catalogue.country_name,
            language_name=catalogue.language_name,
            score_view=score_view,
            reason=reason_sentence,
        )

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        visitor: Visitor | None = getattr(request.state, "visitor", None)
        seed: str = getattr(request.state, "csrf_seed", "")
        html = self.env.get_template(template).render(
            request=request,
            visitor=visitor,
            csrf=self.sessions.csrf_token(seed),
            unread=getattr(request.state, "unread", None),
            shortlisted=getattr(request.state, "shortlisted", None),
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={**PRIVATE, **(headers or {})})


def is_htmx(request: Request) -> bool:
    """An htmx request wants a fragment to swap in, not a whole page."""
    return request.headers.get("hx-request") == "true"
