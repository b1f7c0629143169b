"""Project invitations on the in-memory fakes: who may be invited, what reaches the inbox
(once), what an accept shares (by the introductions' rules, once) and what a decline does not,
and how a deleted project or an erased member takes invitations away."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from nnmatch.contact import Channel, ContactDetails, DeliverySettings, Frequency, Preferences
from nnmatch.events import (
    Event,
    HubDeleted,
    HubUpserted,
    MemberSuspended,
    MemberUnsuspended,
    ProfileDeleted,
    ProfileUpserted,
    ProjectDeleted,
    ProjectUpserted,
)
from nnmatch.hub import HubProfile, ProjectProfile
from nnmatch.messaging import Inbound
from nnmatch.observability import Metrics
from nnmatch.profile import MemberProfile
from nnmatch_notifications.channels import Delivery
from nnmatch_notifications.contacts import MemoryContacts
from nnmatch_notifications.directory import MemoryDirectory
from nnmatch_notifications.email import EmailChannel, SmtpConfig, template_for, wire_bytes
from nnmatch_notifications.handlers import NotificationMetrics
from nnmatch_notifications.inbox import InboxItem, ItemKind
from nnmatch_notifications.introductions import Introducer
from nnmatch_notifications.invitation_desk import InvitationDesk
from nnmatch_notifications.invitation_feeds import (
    LearnHubs,
    LearnMembers,
    LearnProjects,
    LearnSuspensions,
)
from nnmatch_notifications.invitation_store import MemoryInvitations
from nnmatch_notifications.invitations import (
    InvitationRefused,
    InvitationStatus,
    invitation_id,
)
from nnmatch_notifications.outbox import MemoryOutbox
from nnmatch_notifications.store import MemoryInbox, MemoryKeyspace
from tests.support import DROUGHT_PROJECT, NAIROBI_HUB
from tests.unit.builders import amina

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
HUB, PROJECT = "yail-nairobi", "drought"
LEADER, IMPACT, MEMBER = "lead-1", "impact-1", "kofi-1"


@dataclass
class World:
    directory: MemoryDirectory
    invitations: MemoryInvitations
    inbox: MemoryInbox
    outbox: MemoryOutbox
    contacts: MemoryContacts
    desk: InvitationDesk
    metrics: Metrics

    async def shown(self, member: str) -> list[tuple[ItemKind, str]]:
        items, _ = await self.inbox.page(member, 100, None)
        return [(i.kind, i.suggestion.member_id) for i in items]

    async def items(self, member: str) -> list[InboxItem]:
        return (await self.inbox.page(member, 100, None))[0]

    def introductions(self) -> float:
        return self.metrics.registry.get_sample_value("nnmatch_introductions_total") or 0.0


def record(event: Event | None, key: str) -> Any:
    """A consumed record (typed loosely: each feed takes its own topic's events)."""
    return Inbound(key, event, "topic", 0, 0, 0)


def hub_event(**overrides: object) -> HubUpserted:
    body = NAIROBI_HUB | {
        "leaders": [
            {"member_id": LEADER, "role": "leader"},
            {"member_id": IMPACT, "role": "impact"},
            {"member_id": LEADER, "role": "regional"},
        ]
    }
    return HubUpserted(
        producer="profiles",
        hub_id=HUB,
        version=1,
        hub=HubProfile.model_validate(body | overrides),
    )


def project_event(project_id: str = PROJECT, **overrides: object) -> ProjectUpserted:
    return ProjectUpserted(
        producer="profiles",
        hub_id=HUB,
        project_id=project_id,
        version=1,
        project=ProjectProfile.model_validate(DROUGHT_PROJECT | overrides),
    )


def profile_event(member_id: str, profile: MemberProfile | None = None) -> ProfileUpserted:
    return ProfileUpserted(
        producer="profiles", member_id=member_id, version=1, profile=profile or amina()
    )


async def make_world() -> World:
    keyspace = MemoryKeyspace(lambda: NOW.timestamp())
    inbox = MemoryInbox(keyspace, max_items=100)
    contacts = MemoryContacts(keyspace)
    directory = MemoryDirectory()
    invitations = MemoryInvitations()
    metrics = Metrics("notifications")
    introducer = Introducer(
        inbox, contacts, lambda: NOW, NotificationMetrics(metrics).introductions
    )
    desk = InvitationDesk(directory, invitations, inbox, contacts, introducer, lambda: NOW)
    world = World(directory, invitations, inbox, MemoryOutbox(keyspace), contacts, desk, metrics)
    await LearnHubs(directory)([record(hub_event(), HUB)])
    await LearnProjects(directory, desk)([record(project_event(), f"{HUB}/{PROJECT}")])
    for member in (LEADER, IMPACT, MEMBER):
        await LearnMembers(directory, desk)([record(profile_event(member), member)])
    return world


@pytest.fixture
async def world() -> World:
    return await make_world()


def sharing(address: str) -> DeliverySettings:
    return DeliverySettings(contact=ContactDetails(email=address, share_in_introductions=["email"]))


INVITATION = invitation_id(HUB, PROJECT)


# --- inviting -------------------------------------------------------------------------------


async def test_an_invitation_reaches_the_members_inbox_once_however_often_it_is_made(
    world: World,
) -> None:
    first, created = await world.desk.invite(HUB, PROJECT, MEMBER)
    again, created_again = await world.desk.invite(HUB, PROJECT, MEMBER)

    assert (created, created_again) == (True, False)
    assert again == first
    assert first.status is InvitationStatus.PENDING
    [item] = await world.items(MEMBER)
    assert item.kind is ItemKind.PROJECT_INVITATION
    assert item.invitation is not None
    assert item.invitation.invitation_id == first.invitation_id == INVITATION
    assert (item.invitation.hub_name, item.invitation.project_title) == (
        "YAIL Nairobi",
        "Drought watch for Turkana",
    )
    assert (item.suggestion.display_name, item.suggestion.headline) == (
        "YAIL Nairobi",
        "Drought watch for Turkana",
    )
    assert first.reason == (
        "YAIL Nairobi invites you to contribute to its project “Drought watch for Turkana”."
    )
    assert [r.kind for r in item.suggestion.reasons] == ["project_invitation"]


async def test_each_project_invites_the_member_separately(world: World) -> None:
    await LearnProjects(world.directory, world.desk)(
        [record(project_event("second", title="Flood maps"), f"{HUB}/second")]
    )

    await world.desk.invite(HUB, PROJECT, MEMBER)
    await world.desk.invite(HUB, "second", MEMBER)

    assert [i.invitation.project_id for i in await world.items(MEMBER) if i.invitation] == [
        "second",
        PROJECT,
    ]


async def test_a_closed_project_refuses_with_a_reason(world: World) -> None:
    await LearnProjects(world.directory, world.desk)(
        [record(project_event(open=False), f"{HUB}/{PROJECT}")]
    )

    with pytest.raises(InvitationRefused) as refused:
        await world.desk.invite(HUB, PROJECT, MEMBER)

    assert refused.value.status == 409
    assert "closed" in refused.value.reason
    assert await world.shown(MEMBER) == []


async def test_another_hubs_project_or_an_unknown_one_is_not_found(world: World) -> None:
    for hub_id, project_id in ((HUB, "nope"), ("other-hub", PROJECT)):
        with pytest.raises(InvitationRefused) as refused:
            await world.desk.invite(hub_id, project_id, MEMBER)
        assert refused.value.status == 404
        assert project_id in refused.value.reason


async def test_hidden_suspended_and_unknown_members_read_alike(world: World) -> None:
    hidden = amina(visibility={"discoverable": False})
    await LearnMembers(world.directory, world.desk)(
        [record(profile_event("hid-1", hidden), "hid-1")]
    )
    await LearnMembers(world.directory, world.desk)([record(profile_event("sus-1"), "sus-1")])
    suspended = MemberSuspended(producer="profiles", member_id="sus-1", operator="op")
    await LearnSuspensions(world.directory)([record(suspended, "sus-1")])

    reasons = []
    for member in ("hid-1", "sus-1", "nobody-1"):
        with pytest.raises(InvitationRefused) as refused:
            await world.desk.invite(HUB, PROJECT, member)
        assert refused.value.status == 404
        reasons.append(refused.value.reason.replace(member, "?"))

    assert len(set(reasons)) == 1
    assert await world.shown("hid-1") == await world.shown("sus-1") == []
    lifted = MemberUnsuspended(producer="profiles", member_id="sus-1", operator="op")
    await LearnSuspensions(world.directory)([record(lifted, "sus-1")])
    _, created = await world.desk.invite(HUB, PROJECT, "sus-1")
    assert created


async def test_the_invitation_goes_out_as_the_members_preferences_say(world: World) -> None:
    await world.contacts.put(
        MEMBER,
        DeliverySettings(
            contact=ContactDetails(email="kofi@example.org"),
            preferences=Preferences(channels=[Channel.IN_APP, Channel.EMAIL]),
        ),
        NOW,
    )
    weekly = Preferences(channels=[Channel.IN_APP, Channel.EMAIL], frequency=Frequency.WEEKLY)
    await world.contacts.put(
        "weekly-1", DeliverySettings(preferences=weekly), NOW
    )  # a digest member
    await LearnMembers(world.directory, world.desk)([record(profile_event("weekly-1"), "weekly-1")])

    await world.desk.invite(HUB, PROJECT, MEMBER)
    await world.desk.invite(HUB, PROJECT, LEADER)  # in-app only: nothing to send
    await world.desk.invite(HUB, PROJECT, "weekly-1")

    assert await world.outbox.due_members(NOW, 10) == [MEMBER]
    assert await world.outbox.due_members(NOW + timedelta(days=8), 10) == [MEMBER, "weekly-1"]
    claimed = await world.outbox.claim(MEMBER)
    assert claimed is not None
    [sent] = claimed.items
    assert sent.kind is ItemKind.PROJECT_INVITATION
    assert sent.invitation is not None


# --- answering ------------------------------------------------------------------------------


async def test_accepting_introduces_the_member_and_each_leader_once(world: World) -> None:
    await world.contacts.put(MEMBER, sharing("kofi@example.org"), NOW)
    await world.contacts.put(LEADER, sharing("lead@example.org"), NOW)
    await world.contacts.put(IMPACT, DeliverySettings(contact=ContactDetails(email="i@x.org")), NOW)
    await world.desk.invite(HUB, PROJECT, MEMBER)

    accepted = await world.desk.answer(MEMBER, INVITATION, accept=True)
    again = await world.desk.answer(MEMBER, INVITATION, accept=True)

    assert accepted.status is InvitationStatus.ACCEPTED
    assert accepted.answered_at == NOW
    assert again == accepted
    member_items = await world.items(MEMBER)
    introductions = {
        i.suggestion.member_id: i.shared_email
        for i in member_items
        if i.kind is ItemKind.INTRODUCTION
    }
    assert introductions == {LEADER: "lead@example.org", IMPACT: None}  # only what was shared
    for leader in (LEADER, IMPACT):
        [intro] = await world.items(leader)
        assert (intro.kind, intro.suggestion.member_id) == (ItemKind.INTRODUCTION, MEMBER)
        assert intro.shared_email == "kofi@example.org"
        assert intro.suggestion.display_name == "Amina Yusuf"  # the member's card, not an id
    assert world.introductions() == 2
    [listed] = await world.desk.of_project(HUB, PROJECT)
    assert listed.status is InvitationStatus.ACCEPTED


async def test_repeating_an_accept_heals_a_crash_before_the_introductions(world: World) -> None:
    pending, _ = await world.desk.invite(HUB, PROJECT, MEMBER)
    recorded = pending.model_copy(update={"status": InvitationStatus.ACCEPTED, "answered_at": NOW})
    assert await world.invitations.replace(pending, recorded)  # then the process died
    assert await world.shown(LEADER) == []

    retried = await world.desk.answer(MEMBER, INVITATION, accept=True)

    assert retried == recorded
    assert await world.shown(LEADER) == [(ItemKind.INTRODUCTION, MEMBER)]
    assert world.introductions() == 2


async def test_a_pair_already_introduced_is_not_introduced_again(world: World) -> None:
    await world.desk.invite(HUB, PROJECT, MEMBER)
    await LearnProjects(world.directory, world.desk)(
        [record(project_event("second"), f"{HUB}/second")]
    )
    await world.desk.invite(HUB, "second", MEMBER)

    await world.desk.answer(MEMBER, INVITATION, accept=True)
    await world.desk.answer(MEMBER, invitation_id(HUB, "second"), accept=True)

    assert [k for k, _ in await world.shown(LEADER)] == [ItemKind.INTRODUCTION]
    assert world.introductions() == 2


async def test_declining_shares_nothing_and_the_hub_sees_it(world: World) -> None:
    await world.contacts.put(MEMBER, sharing("kofi@example.org"), NOW)
    await world.desk.invite(HUB, PROJECT, MEMBER)

    declined = await world.desk.answer(MEMBER, INVITATION, accept=False)

    assert declined.status is InvitationStatus.DECLINED
    assert await world.shown(LEADER) == await world.shown(IMPACT) == []
    assert [k for k, _ in await world.shown(MEMBER)] == [ItemKind.PROJECT_INVITATION]
    [listed] = await world.desk.of_project(HUB, PROJECT)
    assert (listed.member_id, listed.status) == (MEMBER, InvitationStatus.DECLINED)
    with pytest.raises(InvitationRefused) as refused:
        await world.desk.answer(MEMBER, INVITATION, accept=True)
    assert refused.value.status == 409
    assert world.introductions() == 0


async def test_only_the_invited_member_can_answer_and_not_after_the_project_closed(
    world: World,
) -> None:
    await world.desk.invite(HUB, PROJECT, MEMBER)

    with pytest.raises(InvitationRefused) as stranger:
        await world.desk.answer(LEADER, INVITATION, accept=True)
    await LearnProjects(world.directory, world.desk)(
        [record(project_event(open=False), f"{HUB}/{PROJECT}")]
    )
    with pytest.raises(InvitationRefused) as closed:
        await world.desk.answer(MEMBER, INVITATION, accept=True)
    still_declinable = await world.desk.answer(MEMBER, INVITATION, accept=False)

    assert stranger.value.status == 404
    assert closed.value.status == 409
    assert still_declinable.status is InvitationStatus.DECLINED
    assert await world.shown(LEADER) == []


# --- withdrawal and erasure -------------------------------------------------------------------


async def test_a_deleted_project_withdraws_its_pending_invitations(world: World) -> None:
    await world.contacts.put(
        "pending-1",
        DeliverySettings(
            contact=ContactDetails(email="p@example.org"),
            preferences=Preferences(channels=[Channel.IN_APP, Channel.EMAIL]),
        ),
        NOW,
    )
    await LearnMembers(world.directory, world.desk)(
        [record(profile_event("pending-1"), "pending-1")]
    )
    await world.desk.invite(HUB, PROJECT, MEMBER)
    await world.desk.invite(HUB, PROJECT, "pending-1")
    await world.desk.answer(MEMBER, INVITATION, accept=True)
    learn = LearnProjects(world.directory, world.desk)

    deleted = ProjectDeleted(producer="profiles", hub_id=HUB, project_id=PROJECT)
    await learn([record(deleted, f"{HUB}/{PROJECT}"), record(None, f"{HUB}/{PROJECT}")])

    assert await world.shown("pending-1") == []
    claimed = await world.outbox.claim("pending-1")
    assert claimed is None or claimed.items == []  # nothing left to e-mail
    # The accepted one was answered: its introductions stay, only its record goes.
    assert (ItemKind.INTRODUCTION, LEADER) in await world.shown(MEMBER)
    with pytest.raises(InvitationRefused) as gone:
        await world.desk.of_project(HUB, PROJECT)
    assert gone.value.status == 404
    assert await world.invitations.get("pending-1", INVITATION) is None
    # A project posted again under the same id may invite them afresh.
    await learn([record(project_event(), f"{HUB}/{PROJECT}")])
    _, created = await world.desk.invite(HUB, PROJECT, "pending-1")
    assert created
    assert len(await world.shown("pending-1")) == 1


async def test_a_tombstone_alone_withdraws_too(world: World) -> None:
    await world.desk.invite(HUB, PROJECT, MEMBER)

    await LearnProjects(world.directory, world.desk)([record(None, f"{HUB}/{PROJECT}")])

    assert await world.shown(MEMBER) == []
    assert await world.directory.project(HUB, PROJECT) is None


async def test_erasing_a_member_removes_their_invitations(world: World) -> None:
    await world.desk.invite(HUB, PROJECT, MEMBER)
    await world.desk.invite(HUB, PROJECT, IMPACT)

    erased = ProfileDeleted(producer="profiles", member_id=MEMBER)
    await LearnMembers(world.directory, world.desk)([record(erased, MEMBER), record(None, MEMBER)])

    assert [i.member_id for i in await world.desk.of_project(HUB, PROJECT)] == [IMPACT]
    assert await world.invitations.get(MEMBER, INVITATION) is None
    assert await world.directory.member(MEMBER) is None
    with pytest.raises(InvitationRefused):
        await world.desk.invite(HUB, PROJECT, MEMBER)


async def test_a_deleted_hub_invites_no_one(world: World) -> None:
    await LearnHubs(world.directory)(
        [record(HubDeleted(producer="profiles", hub_id=HUB), HUB), record(None, HUB)]
    )

    with pytest.raises(InvitationRefused) as refused:
        await world.desk.invite(HUB, PROJECT, MEMBER)

    assert refused.value.status == 404


async def test_the_hubs_leaders_are_its_distinct_members_in_order(world: World) -> None:
    hub = await world.directory.hub(HUB)

    assert hub is not None
    assert hub.leaders == [LEADER, IMPACT]


# --- e-mail ---------------------------------------------------------------------------------


async def test_an_invitation_e_mail_names_the_hub_and_project_and_links_the_inbox(
    world: World,
) -> None:
    await world.desk.invite(HUB, PROJECT, MEMBER)
    [item] = await world.items(MEMBER)
    delivery = Delivery(member_id=MEMBER, items=[item], key="k-1", digest=False)
    channel = EmailChannel(
        SmtpConfig(),
        mail_from="nnmatch <no-reply@nnmatch.example>",
        public_base_url="https://nnmatch.example/",
        notifications_public_url="https://api.nnmatch.example",
        unsubscribe_key=b"unsubscribe-key-for-tests-only!!",
        clock=lambda: NOW,
    )

    raw = wire_bytes(channel.message(delivery, "kofi@example.org", NOW))
    message = email.message_from_bytes(raw, policy=email.policy.default)

    assert template_for(delivery) == "invitation"
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Invitation from YAIL Nairobi: Drought watch for Turkana"
    for part in ("plain", "html"):
        body = message.get_body((part,))
        assert body is not None
        text = str(body.get_content())
        assert "YAIL Nairobi invites you to contribute to its project" in text
        assert f"https://nnmatch.example/members/{MEMBER}/inbox" in text
        assert "Someone to meet" not in text
