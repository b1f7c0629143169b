"""Invitations end to end, over the seams: a hub invites a member to a project (the item
reaches their inbox and, by their preferences, e-mail or webhook), the member answers (an
accept introduces them and the hub's leaders by double opt-in), a deleted project's pending
invitations are withdrawn, an erased member's are forgotten. Rules are in invitations.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from nnmatch.events import Suggestion
from nnmatch_notifications.contacts import Contacts
from nnmatch_notifications.directory import Directory
from nnmatch_notifications.inbox import InboxItem
from nnmatch_notifications.introductions import Introducer
from nnmatch_notifications.invitation_store import Invitations
from nnmatch_notifications.invitations import (
    Invitation,
    InvitationRefused,
    InvitationStatus,
    answered,
    check_invitable,
    invitation_id,
    invitation_item,
    member_card,
    new_invitation,
)
from nnmatch_notifications.schedule import due_time, external_channels
from nnmatch_notifications.store import Inbox

MAX_INVITATIONS_PER_PROJECT = 500


class InvitationDesk:
    def __init__(
        self,
        directory: Directory,
        invitations: Invitations,
        inbox: Inbox,
        contacts: Contacts,
        introducer: Introducer,
        clock: Callable[[], datetime],
        max_per_project: int = MAX_INVITATIONS_PER_PROJECT,
    ) -> None:
        self._directory = directory
        self._invitations = invitations
        self._inbox = inbox
        self._contacts = contacts
        self._introducer = introducer
        self._clock = clock
        self._max_per_project = max_per_project

    async def invite(self, hub_id: str, project_id: str, member_id: str) -> tuple[Invitation, bool]:
        """The member's invitation to the project, and whether it was made now (False: the
        one made before, which reached their inbox then)."""
        hub, project = check_invitable(
            hub_id,
            project_id,
            member_id,
            await self._directory.hub(hub_id),
            await self._directory.project(hub_id, project_id),
            await self._directory.member(member_id),
        )
        existing = await self._invitations.get(member_id, invitation_id(hub_id, project_id))
        if existing is not None:
            return existing, False
        if len(await self._invitations.of_project(hub_id, project_id)) >= self._max_per_project:
            raise InvitationRefused(
                409, f"project {project_id!r} has {self._max_per_project} invitations already"
            )
        now = self._clock()
        invitation = new_invitation(hub_id, project_id, member_id, hub, project, now)
        settings = await self._contacts.get(member_id)
        due = (
            {member_id: due_time(settings.preferences, now)}
            if external_channels(settings.preferences)
            else None
        )
        # Inbox first: it adds an item once per key, so a retry after a crash between the two
        # writes neither loses the item nor adds a second.
        await self._inbox.add_new_many([(member_id, [invitation_item(invitation, hub)])], 1, due)
        return await self._invitations.create(invitation)

    async def with_answers(self, member_id: str, items: list[InboxItem]) -> list[InboxItem]:
        """The inbox items, each invitation with its answer so far (the item is written once,
        when the hub invites; the answer lives with the invitation), the page's invitations
        read together."""
        refs = [item.invitation.invitation_id for item in items if item.invitation is not None]
        held = await self._invitations.get_many(member_id, refs)

        def answered(item: InboxItem) -> InboxItem:
            ref = item.invitation
            if ref is None:
                return item
            invitation = held.get(ref.invitation_id)
            status = invitation.status if invitation is not None else None
            return item.model_copy(update={"invitation": ref.model_copy(update={"status": status})})

        return [answered(item) for item in items]

    async def of_project(self, hub_id: str, project_id: str) -> list[Invitation]:
        if await self._directory.project(hub_id, project_id) is None:
            raise InvitationRefused(404, f"hub {hub_id!r} has no project {project_id!r}")
        return await self._invitations.of_project(hub_id, project_id)

    async def answer(self, member_id: str, invitation_id_: str, accept: bool) -> Invitation:
        """Accept or decline. Accepting shares contact details both ways between the member
        and each of the hub's leaders, by the introductions' rules (each pair once, only what
        each chose to share); declining shares nothing. The answer is recorded first (compare
        and set, so two answers at once cannot both win); the introductions follow and are
        made again, each pair still once, when the accept is repeated: a crash between the
        two is healed by the member's retry."""
        invitation = await self._invitations.get(member_id, invitation_id_)
        if invitation is None:
            raise InvitationRefused(404, "no such invitation")
        updated = answered(invitation, accept, self._clock())
        if updated is not invitation:
            if accept:
                await self._still_open(invitation)
            if not await self._invitations.replace(invitation, updated):
                raise InvitationRefused(409, "the invitation changed meanwhile: read it again")
        if updated.status is InvitationStatus.ACCEPTED:
            await self._introduce(updated)
        return updated

    async def _still_open(self, invitation: Invitation) -> None:
        project = await self._directory.project(invitation.hub_id, invitation.project_id)
        if project is None:
            raise InvitationRefused(404, "no such invitation")
        if not project.open:
            raise InvitationRefused(409, "the project has closed since it invited you")

    async def _introduce(self, invitation: Invitation) -> None:
        now = self._clock()
        hub = await self._directory.hub(invitation.hub_id)
        leaders = [m for m in (hub.leaders if hub else []) if m != invitation.member_id]
        cards: dict[str, Suggestion] = {}
        for someone in (invitation.member_id, *leaders):
            known = await self._directory.member(someone)
            if known is not None:
                cards[someone] = member_card(someone, known, now)
        for leader in leaders:
            # The hub's invitation is its leaders' acceptance; the member's answer the other.
            await self._introducer.accept(leader, invitation.member_id, cards)
            await self._introducer.accept(invitation.member_id, leader, cards)

    async def withdraw_project(self, hub_id: str, project_id: str) -> int:
        """The project is gone: its invitations are forgotten and the pending ones leave the
        members' inboxes (and outboxes). How many were withdrawn."""
        dropped = await self._invitations.drop_project(hub_id, project_id)
        pending = [i for i in dropped if i.status is InvitationStatus.PENDING]
        for invitation in pending:
            await self._inbox.withdraw(invitation.member_id, invitation.invitation_id)
        return len(pending)

    async def erase_member(self, member_id: str) -> None:
        """The member's invitations go (their inbox goes with the inbox's own erasure)."""
        await self._invitations.erase_member(member_id)
