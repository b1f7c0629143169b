"""A member's data held by notifications, for their data-access request: inbox, read marks,
who was suggested to them and when, deliveries waiting and how they went, whom they accepted,
their preferences and contact details (never the sealed webhook secret). The member themself
or an operator; audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel

from nnmatch.access import OWNER_OR_OPERATOR, MemberIdPath
from nnmatch.audit import AuditAction, AuditorDep
from nnmatch.auth import Principal
from nnmatch.contact import ContactDetails, Preferences
from nnmatch.export import ExporterDep, KeyFamily, ServiceExport
from nnmatch.problems import problem_responses
from nnmatch_notifications.deps import ContactBookDep

FAMILIES = (
    KeyFamily("inbox:{m}", True, "their in-app inbox: suggestions and introductions"),
    KeyFamily("read:{m}", True, "the inbox items they marked read"),
    KeyFamily("inbox-index:{m}", True, "which inbox item suggested whom"),
    KeyFamily("intro-index:{m}", True, "which inbox item introduced whom"),
    KeyFamily("suggested:{m}", True, "who was suggested to them, and when"),
    KeyFamily("pending:{m}", True, "items still to go out by e-mail or webhook"),
    KeyFamily("sending:{m}", True, "items being sent right now"),
    KeyFamily("sent-count:{m}", True, "how many were sent to them per day (the daily cap)"),
    KeyFamily("accepted:{m}", True, "whom they accepted (introductions when mutual)"),
    KeyFamily("joined:{m}", True, "when they joined (until their first suggestion)"),
    KeyFamily("delivery-state:{m}", True, "each channel's last delivery and failure"),
    KeyFamily("segment:{m}", True, "their region and hub as product-health metrics count them"),
    KeyFamily("invited:{m}", True, "the project invitations they got (each invitation's project)"),
    KeyFamily(
        "contact:{m}",
        False,
        "exported as `contact` and `preferences` below, without the sealed webhook secret",
    ),
    KeyFamily("lease:{m}", False, "a short lock while a delivery runs; holds no data"),
    KeyFamily(
        "applied:{m}",
        False,
        "ids of the matches records already applied to their inbox (a day; holds no data)",
    ),
    KeyFamily(
        "dir-member:{m}",
        False,
        "a copy of their card and visibility from their profile (exported by profiles)",
    ),
    KeyFamily("dir-suspended:{m}", False, "whether an operator suspended them (profiles' record)"),
    KeyFamily(
        "shown-in:{m}",
        False,
        "whose inboxes show them: the other members' own data (erasure removes the mentions)",
    ),
    KeyFamily(
        "accepted-by:{m}",
        False,
        "who accepted them: the other members' choice, shared only by a mutual introduction",
    ),
)


class NotificationsExport(ServiceExport):
    contact: ContactDetails
    preferences: Preferences


router = APIRouter(
    prefix="/v1/members", tags=["inbox"], responses=problem_responses(401, 403, 422, 503)
)


@router.get(
    "/{member_id}/export",
    response_model=NotificationsExport,
    summary="Everything notifications holds about the member (their own data; audited)",
)
async def export(
    member_id: MemberIdPath,
    request: Request,
    principal: Annotated[Principal, OWNER_OR_OPERATOR],
    auditor: AuditorDep,
    exporter: ExporterDep,
    book: ContactBookDep,
) -> BaseModel:
    await auditor.record(request, principal, AuditAction.EXPORT, member_id)
    held = await exporter.export(member_id)
    settings = await book.get(member_id)
    return NotificationsExport(
        **held.model_dump(), contact=settings.contact, preferences=settings.preferences
    )
