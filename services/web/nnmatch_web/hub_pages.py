"""A hub's own pages: its profile editor, its partner hubs (accept, dismiss, within its region
or anywhere) and its projects with their form. They act for the hub the visitor's hub token
names (any of its leaders); the APIs decide what that token may read and change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from nnmatch.hub import HUB_ID_PATTERN, PROJECT_ID_PATTERN
from nnmatch_web.apis import ApiError, Apis, unless_missing
from nnmatch_web.deps import ApisDep, CheckedForm, CurrentVisitor, OwnHub, PagesDep
from nnmatch_web.render import Pages, is_htmx
from nnmatch_web.views import (
    empty_hub,
    empty_project,
    field_errors,
    first,
    hub_body,
    leaders_text,
    new_project_id,
    partner_scope,
    project_body,
)

router = APIRouter(prefix="/hub", include_in_schema=False)
Done = Annotated[str | None, Query(max_length=20)]
ProjectId = Annotated[str, Path(pattern=PROJECT_ID_PATTERN)]
PartnerId = Annotated[str, Path(pattern=HUB_ID_PATTERN)]
NEW = "new"  # the address of the new-project form, so never a project's id
PARTNERS_SHOWN = 20
PARTNER_ACTIONS = ("accept", "dismiss")
PARTNER_DONE = {
    "accept": "Accepted. When their hub accepts yours too, your hubs' leaders are introduced.",
    "mutual": "You both accepted: your hubs' leaders are introduced in their inboxes.",
    "dismiss": "Dismissed. This hub leaves your list.",
}
NO_HUB_YET = "Your hub has no profile yet: save it first, then post projects."


# --- profile ------------------------------------------------------------------------------------


@router.get("/profile")
async def hub_profile(
    request: Request,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
    saved: Done = None,
) -> Response:
    stored = await unless_missing(apis.hub(visitor.token, hub_id))
    values = stored["hub"] if stored else empty_hub()
    notice = "Your hub's profile is saved. Partner suggestions follow it." if saved else None
    return _profile_page(request, pages, hub_id, values, stored, notice=notice)


def _profile_page(
    request: Request,
    pages: Pages,
    hub_id: str,
    values: dict[str, Any],
    stored: dict[str, Any] | None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    return pages.render(
        request,
        "hub_profile.html",
        status=status,
        hub_id=hub_id,
        h=values,
        leaders=leaders_text(values.get("leaders", [])),
        stored=stored,
        errors=errors or {},
        notice=notice,
    )


@router.post("/profile")
async def save_hub_profile(
    request: Request,
    form: CheckedForm,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    body = hub_body(form)
    try:
        await apis.put_hub(visitor.token, hub_id, body)
    except ApiError as exc:
        if exc.status != 422:
            raise
        stored = await unless_missing(apis.hub(visitor.token, hub_id))
        errors = field_errors(exc.problem, top=True) or {"body": exc.detail}
        return _profile_page(request, pages, hub_id, body, stored, errors, status=422)
    return RedirectResponse("/hub/profile?saved=1", status_code=303)


# --- partners -----------------------------------------------------------------------------------


@router.get("/partners")
async def partners(
    request: Request,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
    scope: Annotated[str | None, Query(max_length=20)] = None,
    done: Done = None,
) -> Response:
    chosen = partner_scope(scope)
    page = await apis.partners(visitor.token, hub_id, chosen, PARTNERS_SHOWN)
    return pages.render(
        request,
        "hub_partners.html",
        hub_id=hub_id,
        page=page,
        scope=chosen,
        notice=PARTNER_DONE.get(done or ""),
    )


@router.post("/partners/{partner_id}")
async def choose_partner(
    request: Request,
    partner_id: PartnerId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    action = first(form, "action")
    if action not in PARTNER_ACTIONS:
        raise ApiError(422, "choose accept or dismiss")
    made = await apis.choose_partner(visitor.token, hub_id, partner_id, action)
    done = "mutual" if action == "accept" and made.get("mutual") else action
    if is_htmx(request):
        return pages.render(
            request,
            "_done.html",
            text=PARTNER_DONE[done],
            name=first(form, "name") or partner_id,
            item_id=f"partner-{partner_id}",
        )
    scope = partner_scope(first(form, "scope"))
    return RedirectResponse(f"/hub/partners?scope={scope}&done={done}", status_code=303)


# --- projects -----------------------------------------------------------------------------------


@router.get("/projects")
async def projects(
    request: Request,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
    saved: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    found = await unless_missing(apis.projects(visitor.token, hub_id))
    items: list[dict[str, Any]] = found["items"] if found else []
    titles = {p["project_id"]: p["project"]["title"] for p in items}
    return pages.render(
        request,
        "hub_projects.html",
        hub_id=hub_id,
        items=items,
        hub_missing=found is None,
        notice=f"“{titles[saved]}” is saved." if saved in titles else None,
    )


def _project_page(
    request: Request,
    pages: Pages,
    project_id: str | None,
    values: dict[str, Any],
    stored: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return pages.render(
        request,
        "hub_project.html",
        status=status,
        project_id=project_id,
        p=values,
        stored=stored,
        errors=errors or {},
    )


@router.get("/projects/new")
async def new_project(request: Request, hub_id: OwnHub, pages: PagesDep) -> Response:
    return _project_page(request, pages, None, empty_project())


@router.get("/projects/{project_id}")
async def project(
    request: Request,
    project_id: ProjectId,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    stored = await apis.project(visitor.token, hub_id, project_id)
    return _project_page(request, pages, project_id, stored["project"], stored)


async def _save_project(
    request: Request,
    pages: Pages,
    apis: Apis,
    token: str,
    hub_id: str,
    project_id: str | None,
    form: CheckedForm,
) -> Response:
    body = project_body(form)
    if project_id is None:
        found = await unless_missing(apis.projects(token, hub_id))
        if found is None:
            return _project_page(
                request, pages, None, body, errors={"body": NO_HUB_YET}, status=404
            )
        taken = [NEW, *(str(p["project_id"]) for p in found["items"])]
        target = new_project_id(str(body["title"]), taken)
    else:
        target = project_id
    try:
        await apis.put_project(token, hub_id, target, body)
    except ApiError as exc:
        if exc.status not in (404, 409, 422):
            raise
        errors = field_errors(exc.problem, top=True) or {"body": exc.detail}
        if exc.status == 404:
            errors = {"body": NO_HUB_YET}
        return _project_page(request, pages, project_id, body, errors=errors, status=exc.status)
    return RedirectResponse(f"/hub/projects?saved={target}", status_code=303)


@router.post("/projects/new")
async def create_project(
    request: Request,
    form: CheckedForm,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    return await _save_project(request, pages, apis, visitor.token, hub_id, None, form)


@router.post("/projects/{project_id}")
async def save_project(
    request: Request,
    project_id: ProjectId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    hub_id: OwnHub,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    return await _save_project(request, pages, apis, visitor.token, hub_id, project_id, form)
