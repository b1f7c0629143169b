"""Operators' routes of notifications: a member's inbox counts, delivery state and preferences
for the member lookup, and their contact details only on request, audited before the read."""

from __future__ import annotations

from fastapi import APIRouter, Request

from nnmatch.access import CurrentPrincipal, MemberIdPath, require_role
from nnmatch.audit import AuditAction, AuditorDep
from nnmatch.auth import Role
from nnmatch.contact import ContactDetails
from nnmatch.problems import problem_responses
from nnmatch_notifications.deps import ContactBookDep, DeliveryStatesDep, InboxDep
from nnmatch_notifications.inbox import InboxItem
from nnmatch_notifications.lookup import NotificationsLookup, lookup_view
from nnmatch_notifications.store import Inbox

router = APIRouter(
    prefix="/v1/operators/members",
    tags=["operators"],
    responses=problem_responses(401, 403, 422, 503),
    dependencies=[require_role(Role.OPERATOR)],
)
INBOX_PAGE = 100
INBOX_PAGES = 10  # the inbox keeps at most NNMATCH_INBOX_MAX_ITEMS (500 by default)


async def _all_items(inbox: Inbox, member_id: str) -> list[InboxItem]:
    items: list[InboxItem] = []
    before: str | None = None
    for _ in range(INBOX_PAGES):
        page, before = await inbox.page(member_id, INBOX_PAGE, before)
        items += page
        if before is None:
            break
    return items


@router.get(
    "/{member_id}",
    response_model=NotificationsLookup,
    summary="Inbox counts, delivery state by channel with the last failure, preferences",
)
async def lookup(
    member_id: MemberIdPath,
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    inbox: InboxDep,
    book: ContactBookDep,
    states: DeliveryStatesDep,
) -> NotificationsLookup:
    await auditor.record(request, principal, AuditAction.MEMBER_LOOKUP, member_id)
    items = await _all_items(inbox, member_id)
    return lookup_view(
        member_id,
        items,
        await book.get(member_id),
        await states.channels(member_id),
        await states.queue(member_id),
    )


@router.get(
    "/{member_id}/contact",
    response_model=ContactDetails,
    summary="The member's contact details, for an operator who asks (audited first)",
)
async def contact(
    member_id: MemberIdPath,
    request: Request,
    principal: CurrentPrincipal,
    auditor: AuditorDep,
    book: ContactBookDep,
) -> ContactDetails:
    await auditor.record(request, principal, AuditAction.CONTACT_READ, member_id)
    return (await book.get(member_id)).contact
