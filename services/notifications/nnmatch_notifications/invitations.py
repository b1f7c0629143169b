"""Project invitations, pure: who may be invited, what the invitation says, how it is
answered. No Redis, Kafka or clock here; invitation_desk.py does the moving.

An invitation is keyed by (project, member): its id is derived from the hub and project
(`inv-<hash>`), so inviting the same member again finds the same one, and it doubles as the
invitation's key in the member's inbox (where it must look like a member id, as every inbox
item's candidate does).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from nnmatch.events import Reason, Suggestion
from nnmatch.hub import HubProfile, ProjectProfile, project_key
from nnmatch.profile import MAX_DISPLAY_NAME, MAX_HEADLINE, MemberProfile
from nnmatch.reasons import clip_words
from nnmatch_notifications.inbox import InvitationRef, ItemKind, NewItem

REASON_KIND = "project_invitation"
REASON_CHARS = 300


# What invitations need to know of hubs, projects and members (directory.py keeps them).


class KnownHub(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    country: str
    leaders: list[str]  # distinct member ids, in the hub's order
    discoverable: bool

    @classmethod
    def of(cls, hub: HubProfile) -> KnownHub:
        leaders = list(dict.fromkeys(leader.member_id for leader in hub.leaders))
        return cls(
            name=hub.name,
            country=hub.country,
            leaders=leaders,
            discoverable=hub.visibility.discoverable,
        )


class KnownProject(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    open: bool

    @classmethod
    def of(cls, project: ProjectProfile) -> KnownProject:
        return cls(title=project.title, open=project.open)


class KnownMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    display_name: str
    headline: str
    country: str
    discoverable: bool
    suspended: bool = False

    @classmethod
    def of(cls, profile: MemberProfile) -> KnownMember:
        return cls(
            display_name=profile.display_name,
            headline=profile.headline,
            country=profile.country,
            discoverable=profile.visibility.discoverable,
        )


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class Invitation(BaseModel):
    """One member invited to one project, and how they answered."""

    model_config = ConfigDict(frozen=True)

    invitation_id: str
    hub_id: str
    project_id: str
    member_id: str
    hub_name: str
    project_title: str
    reason: str = Field(description="The line the member reads: who invites them, to what.")
    status: InvitationStatus = InvitationStatus.PENDING
    created_at: AwareDatetime
    answered_at: AwareDatetime | None = None


class InvitationRefused(Exception):
    """The invitation cannot be made or answered; `status` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def invitation_id(hub_id: str, project_id: str) -> str:
    digest = hashlib.sha256(project_key(hub_id, project_id).encode()).hexdigest()
    return f"inv-{digest[:32]}"


def check_invitable(
    hub_id: str,
    project_id: str,
    member_id: str,
    hub: KnownHub | None,
    project: KnownProject | None,
    member: KnownMember | None,
) -> tuple[KnownHub, KnownProject]:
    """The hub and project, if this member may be invited to it; else why not.

    A hidden, suspended or unknown member reads the same (404), so a hub learns nothing of
    members others cannot find."""
    if hub is None or project is None:
        raise InvitationRefused(404, f"hub {hub_id!r} has no project {project_id!r}")
    if not project.open:
        raise InvitationRefused(
            409, f"project {project_id!r} is closed: reopen it to invite members"
        )
    if member is None or not member.discoverable or member.suspended:
        raise InvitationRefused(404, f"no discoverable member {member_id!r}")
    return hub, project


def reason_claim(project_title: str) -> str:
    """The reason without its subject, as matching words reasons: pages and e-mails put the
    hub's name in front (`nnmatch.reasons.reason_sentence`)."""
    return f"invites you to contribute to its project “{clip_words(project_title, REASON_CHARS)}”"


def reason_line(hub_name: str, project_title: str) -> str:
    return f"{hub_name} {reason_claim(project_title)}."


def new_invitation(
    hub_id: str,
    project_id: str,
    member_id: str,
    hub: KnownHub,
    project: KnownProject,
    now: datetime,
) -> Invitation:
    return Invitation(
        invitation_id=invitation_id(hub_id, project_id),
        hub_id=hub_id,
        project_id=project_id,
        member_id=member_id,
        hub_name=hub.name,
        project_title=project.title,
        reason=reason_line(hub.name, project.title),
        created_at=now,
    )


def invitation_item(invitation: Invitation, hub: KnownHub) -> NewItem:
    """The member's inbox item: a card that reads as the hub and its project (so pages,
    e-mails and webhooks that know only suggestions still show something true) plus the
    invitation itself."""
    card = Suggestion(
        member_id=invitation.invitation_id,
        display_name=clip_words(hub.name, MAX_DISPLAY_NAME - 1),
        headline=clip_words(invitation.project_title, MAX_HEADLINE - 1),
        country=hub.country,
        score=0.0,
        reasons=[Reason(kind=REASON_KIND, text=reason_claim(invitation.project_title))],
        computed_at=invitation.created_at,
    )
    return NewItem(
        candidate_id=invitation.invitation_id,
        kind=ItemKind.PROJECT_INVITATION,
        created_at=invitation.created_at,
        suggestion=card,
        invitation=InvitationRef(
            invitation_id=invitation.invitation_id,
            hub_id=invitation.hub_id,
            hub_name=invitation.hub_name,
            project_id=invitation.project_id,
            project_title=invitation.project_title,
        ),
    )


def answered(invitation: Invitation, accept: bool, now: datetime) -> Invitation:
    """The invitation with the member's answer; the same answer again changes nothing, and
    an answer is final (a declined invitation is not accepted later, nor the reverse)."""
    wanted = InvitationStatus.ACCEPTED if accept else InvitationStatus.DECLINED
    if invitation.status is wanted:
        return invitation
    if invitation.status is not InvitationStatus.PENDING:
        raise InvitationRefused(409, f"this invitation was already {invitation.status}")
    return invitation.model_copy(update={"status": wanted, "answered_at": now})


def member_card(member_id: str, member: KnownMember, now: datetime) -> Suggestion:
    """How an invited member shows in a hub leader's introduction."""
    return Suggestion(
        member_id=member_id,
        display_name=member.display_name,
        headline=member.headline,
        country=member.country,
        score=0.0,
        computed_at=now,
    )
