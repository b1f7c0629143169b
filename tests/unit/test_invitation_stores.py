"""The contracts of the invitation store and the directory, run here on the in-memory fakes
and in tests/integration/test_invitation_store_contracts.py on Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nnmatch_notifications.directory import Directory, MemoryDirectory
from nnmatch_notifications.invitation_store import Invitations, MemoryInvitations
from nnmatch_notifications.invitations import (
    Invitation,
    InvitationStatus,
    KnownHub,
    KnownMember,
    KnownProject,
    invitation_id,
)

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@pytest.fixture
def invitations() -> Invitations:
    return MemoryInvitations()


@pytest.fixture
def directory() -> Directory:
    return MemoryDirectory()


def invitation(
    member: str, project: str = "p-1", hub: str = "hub-1", minute: int = 0
) -> Invitation:
    return Invitation(
        invitation_id=invitation_id(hub, project),
        hub_id=hub,
        project_id=project,
        member_id=member,
        hub_name="Hub",
        project_title="Project",
        reason="Hub invites you to contribute to its project “Project”.",
        created_at=NOW + timedelta(minutes=minute),
    )


async def test_an_invitation_is_created_once_per_member_and_project(
    invitations: Invitations,
) -> None:
    first = invitation("m-a")
    later = invitation("m-a", minute=5)

    stored, created = await invitations.create(first)
    again, created_again = await invitations.create(later)

    assert (created, created_again) == (True, False)
    assert stored == again == first
    assert await invitations.get("m-a", first.invitation_id) == first
    assert await invitations.get("m-b", first.invitation_id) is None


async def test_a_projects_invitations_list_oldest_first_with_their_status(
    invitations: Invitations,
) -> None:
    await invitations.create(invitation("m-b", minute=1))
    await invitations.create(invitation("m-a", minute=2))
    await invitations.create(invitation("m-c", project="p-2"))
    declined = invitation("m-b", minute=1).model_copy(
        update={"status": InvitationStatus.DECLINED, "answered_at": NOW}
    )

    assert await invitations.replace(invitation("m-b", minute=1), declined)
    listed = await invitations.of_project("hub-1", "p-1")

    assert [(i.member_id, i.status) for i in listed] == [
        ("m-b", InvitationStatus.DECLINED),
        ("m-a", InvitationStatus.PENDING),
    ]


async def test_replacing_a_forgotten_invitation_does_nothing(invitations: Invitations) -> None:
    accepted = invitation("m-a").model_copy(update={"status": InvitationStatus.ACCEPTED})

    assert not await invitations.replace(invitation("m-a"), accepted)
    assert await invitations.of_project("hub-1", "p-1") == []


async def test_of_two_answers_read_at_once_only_the_first_is_stored(
    invitations: Invitations,
) -> None:
    pending = invitation("m-a")
    await invitations.create(pending)
    accepted = pending.model_copy(update={"status": InvitationStatus.ACCEPTED, "answered_at": NOW})
    declined = pending.model_copy(update={"status": InvitationStatus.DECLINED, "answered_at": NOW})

    first = await invitations.replace(pending, accepted)
    second = await invitations.replace(pending, declined)

    assert (first, second) == (True, False)
    assert await invitations.get("m-a", pending.invitation_id) == accepted


async def test_erasing_a_member_forgets_their_invitations_only(invitations: Invitations) -> None:
    await invitations.create(invitation("m-a"))
    await invitations.create(invitation("m-a", project="p-2"))
    await invitations.create(invitation("m-b"))

    assert await invitations.erase_member("m-a") == 2

    assert [i.member_id for i in await invitations.of_project("hub-1", "p-1")] == ["m-b"]
    assert await invitations.of_project("hub-1", "p-2") == []
    assert await invitations.get("m-a", invitation_id("hub-1", "p-1")) is None
    assert await invitations.erase_member("m-a") == 0


async def test_dropping_a_project_returns_and_forgets_its_invitations(
    invitations: Invitations,
) -> None:
    await invitations.create(invitation("m-a"))
    await invitations.create(invitation("m-b", minute=1))
    await invitations.create(invitation("m-a", project="p-2"))

    dropped = await invitations.drop_project("hub-1", "p-1")

    assert [i.member_id for i in dropped] == ["m-a", "m-b"]
    assert await invitations.of_project("hub-1", "p-1") == []
    assert await invitations.get("m-a", invitation_id("hub-1", "p-1")) is None
    assert await invitations.get("m-a", invitation_id("hub-1", "p-2")) is not None
    assert await invitations.drop_project("hub-1", "p-1") == []


async def test_the_directory_keeps_the_latest_and_forgets_on_delete(directory: Directory) -> None:
    hub = KnownHub(name="Hub", country="KE", leaders=["m-l"], discoverable=True)
    await directory.put_hub("hub-1", hub)
    await directory.put_hub("hub-1", hub.model_copy(update={"name": "Hub 2"}))
    await directory.put_project("hub-1", "p-1", KnownProject(title="P", open=True))
    await directory.put_project("hub-2", "p-1", KnownProject(title="Q", open=False))

    renamed = await directory.hub("hub-1")
    await directory.delete_project("hub-1", "p-1")
    await directory.delete_hub("hub-1")

    assert renamed is not None
    assert renamed.name == "Hub 2"
    assert await directory.hub("hub-1") is None
    assert await directory.project("hub-1", "p-1") is None
    assert await directory.project("hub-2", "p-1") == KnownProject(title="Q", open=False)


async def test_a_suspension_outlives_profile_updates_until_lifted_or_erased(
    directory: Directory,
) -> None:
    card = KnownMember(display_name="A", headline="", country="KE", discoverable=True)
    await directory.set_suspended("m-a", True)  # the suspension may arrive before the profile
    await directory.put_member("m-a", card)
    suspended = await directory.member("m-a")
    await directory.put_member("m-a", card.model_copy(update={"display_name": "B"}))
    still = await directory.member("m-a")
    await directory.set_suspended("m-a", False)
    lifted = await directory.member("m-a")
    await directory.set_suspended("m-a", True)
    await directory.delete_member("m-a")
    await directory.put_member("m-a", card)  # joined again after an erasure

    assert suspended is not None
    assert suspended.suspended
    assert still is not None
    assert (still.display_name, still.suspended) == ("B", True)
    assert lifted is not None
    assert not lifted.suspended
    rejoined = await directory.member("m-a")
    assert rejoined is not None
    assert not rejoined.suspended
    assert await directory.member("m-z") is None


async def test_a_members_invitations_are_read_together_by_id(invitations: Invitations) -> None:
    first, second = invitation("m-a"), invitation("m-a", project="p-2", minute=1)
    await invitations.create(first)
    await invitations.create(second)
    await invitations.create(invitation("m-b", project="p-3"))
    declined = second.model_copy(update={"status": InvitationStatus.DECLINED, "answered_at": NOW})
    await invitations.replace(second, declined)
    await invitations.drop_project("hub-1", "p-1")  # withdrawn: no longer held

    wanted = [first.invitation_id, second.invitation_id, invitation_id("hub-1", "p-3"), "nope"]
    held = await invitations.get_many("m-a", wanted)

    assert held == {second.invitation_id: declined}
    assert await invitations.get_many("m-a", []) == {}
    assert await invitations.get_many("m-nobody", wanted) == {}
