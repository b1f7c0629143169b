"""A member answers a hub's project invitation from their inbox: accept (their contact details
reach the hub's leaders under their own sharing choices, as in an introduction) or decline
(nothing is shared). The notifications service decides; the page says what happened."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from nnmatch_web.apis import ApiError, Apis
from nnmatch_web.deps import ApisDep, CheckedForm, CurrentVisitor, MemberId, PagesDep, count_unread
from nnmatch_web.render import is_htmx
from nnmatch_web.views import first, invitation_answer

router = APIRouter(prefix="/members", include_in_schema=False)
InvitationId = Annotated[str, Path(pattern=r"^inv-[0-9a-f]{32}$")]
_ITEM_ID = re.compile(r"[A-Za-z0-9_:.-]{1,100}")
ANSWERED_TEXT = {
    "invitation-accepted": "You accepted the invitation. Your contact details are shared with "
    "the hub's leaders as your sharing choices say, and theirs with you, in your introductions.",
    "invitation-declined": "You declined the invitation. Nothing was shared with the hub.",
}


async def _read(apis: Apis, token: str, member_id: str, item_id: str) -> None:
    """An answered invitation is read; an item gone meanwhile (the project deleted) is fine."""
    try:
        await apis.mark_read(token, member_id, item_id)
    except ApiError as exc:
        if exc.status != 404:
            raise


@router.post("/{member_id}/invitations/{invitation_id}")
async def answer(
    request: Request,
    member_id: MemberId,
    invitation_id: InvitationId,
    form: CheckedForm,
    visitor: CurrentVisitor,
    apis: ApisDep,
    pages: PagesDep,
) -> Response:
    """`action` accept or decline; the inbox item (`item_id`) is then marked read. An answer
    is final: a second, different one is the service's 409 with its reason ("already
    accepted")."""
    accept = invitation_answer(first(form, "action"))
    if accept is None:
        raise ApiError(422, "choose accept or decline")
    invitation = await apis.answer_invitation(visitor.token, member_id, invitation_id, accept)
    status = str(invitation.get("status", "accepted" if accept else "declined"))
    item_id = first(form, "item_id")
    if _ITEM_ID.fullmatch(item_id):
        await _read(apis, visitor.token, member_id, item_id)
    if is_htmx(request):
        await count_unread(request, apis, visitor)
        return pages.render(
            request,
            "_invitation_answer.html",
            member_id=member_id,
            item_id=item_id if _ITEM_ID.fullmatch(item_id) else invitation_id,
            invitation=invitation,
            answer=status,
        )
    return RedirectResponse(f"/members/{member_id}/inbox?done=invitation-{status}", 303)
