"""Quiet imports on the in-memory fakes: lists an import moves are held until they settle and
then deliver their top few; a member's own edit is delivered at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from nnmatch.contact import Channel
from nnmatch.events import MatchesComputed, ProfileUpserted, Suggestion
from nnmatch_notifications.handlers import DeliverSuggestions, EraseMembers, SuggestionWriter
from nnmatch_notifications.held import MemoryHeldLists
from nnmatch_notifications.release import SettledReleaser
from nnmatch_notifications.settle import SettleRule
from tests.unit.builders import amina
from tests.unit.test_notifications_handlers import (
    NOW,
    World,
    by,
    make_world,
    record,
    suggestion,
)

WINDOW = timedelta(seconds=30)
IMPORTED_AT = NOW - timedelta(minutes=1)
EDITED_AT = NOW - timedelta(seconds=5)


def _update(
    member: str, *candidates: str, source: datetime | None = IMPORTED_AT, model_id: str = "test"
) -> MatchesComputed:
    ranked: list[Suggestion] = [
        suggestion(c, score=1.0 - i / 100) for i, c in enumerate(candidates)
    ]
    return MatchesComputed(
        producer="matching",
        member_id=member,
        profile_version=1,
        model_id=model_id,
        suggestions=ranked,
        source_occurred_at=source,
    )


def _imported(member: str) -> ProfileUpserted:
    return ProfileUpserted(
        producer="profiles",
        occurred_at=IMPORTED_AT,
        member_id=member,
        version=1,
        profile=amina(),
        origin="import",
    )


class Quiet:
    """The consumer and the releaser of one world, with the settle window on."""

    def __init__(self, world: World, settled: int = 3) -> None:
        self.world = world
        held = world.adapters.held
        assert isinstance(held, MemoryHeldLists)
        self.held = held
        rule = SettleRule(WINDOW)
        self.deliver = DeliverSuggestions(
            world.adapters, world.handler_metrics, min_score=0.0, per_update=5, settle=rule
        )
        self.releaser = SettledReleaser(
            world.adapters.held,
            SuggestionWriter(world.adapters, world.handler_metrics, min_score=0.0),
            rule,
            world.clock,
            world.handler_metrics,
            per_release=settled,
            tick_s=1.0,
        )

    async def import_profiles(self, *members: str) -> None:
        await EraseMembers(self.world.adapters)([record(_imported(m)) for m in members])


async def test_an_imported_member_gets_one_settled_batch_from_the_latest_list() -> None:
    world = make_world()
    quiet = Quiet(world, settled=3)
    await quiet.import_profiles("m-new")

    for candidates in (["c-1", "c-2"], ["c-3", "c-1"], ["c-4", "c-5", "c-3", "c-2"]):
        await quiet.deliver([record(_update("m-new", *candidates))])
        world.clock.advance(timedelta(seconds=10))
    before = await world.shown("m-new")
    world.clock.advance(WINDOW)
    released = await quiet.releaser.step()
    again = await quiet.releaser.step()

    assert before == []  # every intermediate list held
    assert released == 1
    assert again == 0
    assert [c for _, c in await world.shown("m-new")] == ["c-3", "c-5", "c-4"]  # newest first
    assert "c-1" not in [c for _, c in await world.shown("m-new")]  # gone from the final list


async def test_the_static_first_pass_delivers_nothing_and_the_full_models_list_once() -> None:
    """An import embedded by the static tier: its lists (even a live edit's) reach no inbox,
    the imported member keeps waiting; the lists ranked once the full model is back are the
    one settled batch."""
    world = make_world()
    quiet = Quiet(world, settled=3)
    await quiet.import_profiles("m-new")
    static = "sentence-transformers/all-MiniLM-L6-v2@53aa51172d14-static"
    full = "sentence-transformers/all-MiniLM-L6-v2@53aa51172d14-openvino"

    await quiet.deliver([record(_update("m-new", "c-1", "c-2", model_id=static))])
    await quiet.deliver([record(_update("m-live", "c-1", source=EDITED_AT, model_id=static))])
    world.clock.advance(WINDOW * 3)
    during = await quiet.releaser.step()
    await quiet.deliver([record(_update("m-new", "c-3", "c-1", source=None, model_id=full))])
    early = await world.shown("m-new")
    world.clock.advance(WINDOW)
    released = await quiet.releaser.step()

    assert during == 0
    assert await world.shown("m-live") == []
    assert world.sample("nnmatch_notifications_first_pass_lists_total") == 2
    assert early == []  # the member still waited for its settled list
    assert released == 1
    assert [c for _, c in await world.shown("m-new")] == ["c-1", "c-3"]


async def test_nothing_is_released_while_the_import_still_moves_lists() -> None:
    world = make_world()
    quiet = Quiet(world)
    await quiet.import_profiles("m-a", "m-b")

    await quiet.deliver([record(_update("m-a", "m-b"))])
    world.clock.advance(WINDOW)
    await quiet.deliver([record(_update("m-b", "m-a"))])  # the import still moving lists
    early = await quiet.releaser.step()
    world.clock.advance(WINDOW)
    late = await quiet.releaser.step()

    assert early == 0
    assert late == 2
    assert [c for _, c in await world.shown("m-a")] == ["m-b"]


async def test_an_imported_members_list_ranked_in_the_background_ends_the_wait() -> None:
    """At 55,000 members most of an import's lists come from the matcher's background queue,
    stamped with no source: they count as the member's list all the same. (They used to
    leave 16,816 of 55,000 imported members pending, so nothing was released for hours.)"""
    world = make_world()
    quiet = Quiet(world)
    await quiet.import_profiles("m-a", "m-b")

    await quiet.deliver([record(_update("m-a", "m-b"))])
    await quiet.deliver([record(_update("m-b", "m-a", source=None))])  # its held list goes on
    world.clock.advance(WINDOW)
    released = await quiet.releaser.step()

    assert released == 2
    assert [c for _, c in await world.shown("m-b")] == ["m-a"]


async def test_a_members_own_edit_is_delivered_at_once() -> None:
    world = make_world()
    quiet = Quiet(world)
    await quiet.import_profiles("c-1")

    await quiet.deliver([record(_update("m-live", "c-1", source=EDITED_AT))])

    assert [c for _, c in await world.shown("m-live")] == ["c-1"]
    assert quiet.held.held == {}


async def test_a_held_member_stays_held_and_erasure_forgets_the_held_list() -> None:
    world = make_world()
    quiet = Quiet(world)
    await quiet.import_profiles("m-a")
    await quiet.deliver([record(_update("m-a", "c-1"))])

    await quiet.deliver([record(_update("m-a", "c-2", source=EDITED_AT))])
    still_held = await world.shown("m-a")
    await EraseMembers(world.adapters)([record(None, key="m-a")])
    world.clock.advance(WINDOW)

    assert still_held == []  # a live update must not overtake the list that waits
    assert await quiet.releaser.step() == 0
    assert quiet.held.held == {}


async def test_a_zero_window_delivers_every_update_as_before() -> None:
    world = make_world()
    await Quiet(world).import_profiles("c-1")
    deliver = DeliverSuggestions(
        world.adapters,
        world.handler_metrics,
        min_score=0.0,
        per_update=5,
        settle=SettleRule(timedelta(0)),
    )

    await deliver([record(_update("m-a", "c-1"))])

    assert [c for _, c in await world.shown("m-a")] == ["c-1"]


async def test_e_mail_waits_for_the_settled_list_too() -> None:
    world = make_world()
    quiet = Quiet(world, settled=2)
    await world.contacts.put("m-mail", by(Channel.EMAIL), NOW)
    await quiet.import_profiles("m-mail")

    await quiet.deliver([record(_update("m-mail", "c-1", "c-2", "c-3"))])
    held_outbox = await world.outbox.due_members(world.clock() + WINDOW * 10, 10)
    world.clock.advance(WINDOW)
    await quiet.releaser.step()
    claimed = await world.outbox.claim("m-mail")

    assert held_outbox == []
    assert claimed is not None
    assert sorted(i.suggestion.member_id for i in claimed.items) == ["c-1", "c-2"]


async def test_an_imported_member_without_a_list_yet_holds_every_release() -> None:
    world = make_world()
    quiet = Quiet(world)
    await quiet.import_profiles("m-a", "m-slow")
    await quiet.deliver([record(_update("m-a", "c-1"))])
    world.clock.advance(WINDOW * 3)

    waiting = await quiet.releaser.step()  # m-slow is still being embedded
    await quiet.deliver([record(_update("m-slow", "m-a"))])
    world.clock.advance(WINDOW)
    released = await quiet.releaser.step()

    assert (waiting, released) == (0, 2)


async def test_a_list_read_before_its_profile_event_still_counts() -> None:
    world = make_world()
    quiet = Quiet(world)
    await quiet.deliver([record(_update("m-early", "c-1", source=EDITED_AT))])  # delivered live
    await quiet.import_profiles("m-early")  # the consumer of profiles.v1 was behind

    assert quiet.held.pending == {}
