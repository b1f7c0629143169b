"""Hub ↔ hub partners on fakes: the members' running sums, the reciprocal score and its
reasons, the recompute bound, and accept/dismiss with the leaders' introduction."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nnmatch.events import (
    FeedbackAction,
    FeedbackGiven,
    HubPartner,
    HubPartnersComputed,
    HubUpserted,
)
from nnmatch.hub import HubProfile
from nnmatch.messaging import Inbound
from nnmatch.publishing import InMemoryPublisher
from nnmatch.reasons import reason_sentence
from nnmatch.topics import FEEDBACK, HUB_PARTNERS
from nnmatch_matching.hubs.book import HubBook, contribution
from nnmatch_matching.hubs.choices import choose
from nnmatch_matching.hubs.handlers import ApplyHubs
from nnmatch_matching.hubs.keeper import HubKeeper
from nnmatch_matching.hubs.schedule import RecomputeSchedule
from nnmatch_matching.hubs.scoring import HubScoring, in_scope, partners
from nnmatch_matching.hubs.store import MemoryHubStore
from tests.unit.builders import E0, E1, E2, E3, card, unit, vectors_event

# Four "topics", one axis each: a fake embedder puts a text on the axes of the topics it names.
TOPICS = ("remote sensing", "crop model", "health", "energy")


async def fake_embed(texts: list[str]) -> Any:
    out = np.zeros((len(texts), 4), dtype=np.float32)
    for i, text in enumerate(texts):
        for axis, topic in enumerate(TOPICS):
            if topic in text.lower():
                out[i, axis] = 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def hub(name: str, country: str, offers: str, seeks: str, **more: Any) -> HubProfile:
    return HubProfile.model_validate(
        {
            "name": name,
            "country": country,
            "offers": {"kinds": ["collaborator"], "text": offers},
            "seeks": {"kinds": ["collaborator"], "text": seeks},
            "languages": ["en"],
            "leaders": [{"member_id": f"lead-{name.lower()}", "role": "leader"}],
            **more,
        }
    )


def upserted(hub_id: str, profile: HubProfile, version: int = 1) -> HubUpserted:
    return HubUpserted(producer="tests", hub_id=hub_id, version=version, hub=profile)


def member(member_id: str, hubs: list[str], offers: Any, seeks: Any, **fields: Any) -> Any:
    return vectors_event(
        member_id,
        card(member_id, hubs=hubs, **fields),
        profile=offers,
        offers=offers,
        seeks=seeks,
    )


def keeper(
    interval_s: float = 0.0, **weights: Any
) -> tuple[HubKeeper, InMemoryPublisher, MemoryHubStore, list[float]]:
    publisher, store, now = InMemoryPublisher(service="matching"), MemoryHubStore(), [0.0]
    kept = HubKeeper(
        book=HubBook(4),
        embed=fake_embed,
        model_id=lambda: "test-model@1",
        publisher=publisher,
        store=store,
        weights=HubScoring(**weights),
        top_n=10,
        schedule=RecomputeSchedule(interval_s),
        clock=lambda: now[0],
    )
    return kept, publisher, store, now


NAIROBI = hub("Nairobi", "KE", "Crop model work.", "Partners in remote sensing.", sdgs=[2, 13])
LISBON = hub("Lisbon", "PT", "Remote sensing of fields.", "Partners in crop model.", sdgs=[13])
ACCRA = hub("Accra", "GH", "Health data.", "Partners in energy.", sdgs=[3])
KISUMU = hub("Kisumu", "KE", "Remote sensing.", "Partners in crop model.", sdgs=[13])


# --------------------------------------------------------------------------- book


def test_a_members_update_replaces_their_contribution_and_erasure_removes_it() -> None:
    book = HubBook(4)
    first = contribution(member("m1", ["h1", "h2"], E0, E1, expertise=["remote sensing"]))
    moved = contribution(member("m1", ["h2"], E2, E3, expertise=["health"]))
    other = contribution(member("m2", ["h2"], E1, E0))

    assert book.put_member("m1", first) == {"h1", "h2"}
    assert book.put_member("m2", other) == {"h2"}
    assert book.put_member("m1", moved) == {"h1", "h2"}

    assert book.aggregate("h1").count == 0
    h2 = book.aggregate("h2")
    assert h2.count == 2
    np.testing.assert_allclose(h2.mean(next(iter(h2.sums))), (E2 + E1) / 2, atol=1e-6)
    assert dict(h2.expertise) == {"health": 1}
    assert book.put_member("m1", None) == {"h2"}
    assert book.aggregate("h2").count == 1


def test_a_hubs_words_are_shown_as_its_current_members_write_them_whatever_the_order() -> None:
    def offering(member_id: str, text: str) -> Any:
        return contribution(member(member_id, ["h1"], E0, E1, offers_text=text))

    parts = {
        "a": offering("a", "Mentoring in sensing."),
        "b": offering("b", "A mentor for sensing work."),
        "c": offering("c", "Mentors on sensing."),
    }
    shown = []
    for order in (["a", "b", "c"], ["c", "b", "a"]):
        book = HubBook(4)
        for member_id in order:
            book.put_member(member_id, parts[member_id])
        shown.append(book.aggregate("h1").shown["mentor"])
        book.put_member("b", None)  # the only one who wrote "mentor" leaves
        shown.append(book.aggregate("h1").shown["mentor"])

    assert shown == ["mentor", "mentors", "mentor", "mentors"]


def test_hidden_members_and_members_of_no_hub_count_for_no_hub() -> None:
    hidden = member("m1", ["h1"], E0, E1, discoverable=False)
    nowhere = member("m2", [], E0, E1)

    assert contribution(hidden) is None
    assert contribution(nowhere) is None


# --------------------------------------------------------------------------- scoring


async def _ranked(*hubs: tuple[str, HubProfile], **weights: Any) -> dict[str, list[str]]:
    kept, _, _, _ = keeper(**weights)
    await kept.put_hubs([upserted(h, p) for h, p in hubs])
    lists = partners(kept.sides(), HubScoring(**weights), top_n=10)
    return {h: [p.hub_id for p in found] for h, found in lists.items()}


async def test_complementary_hubs_rank_each_other_first_both_ways() -> None:
    ranked = await _ranked(("nairobi", NAIROBI), ("lisbon", LISBON), ("accra", ACCRA))

    assert ranked["nairobi"][0] == "lisbon"
    assert ranked["lisbon"][0] == "nairobi"
    assert ranked["accra"][-1] in {"nairobi", "lisbon"}


async def test_a_partner_in_another_country_ranks_above_an_equal_one_at_home() -> None:
    both = (("nairobi", NAIROBI), ("lisbon", LISBON), ("kisumu", KISUMU))

    boosted = await _ranked(*both)
    flat = await _ranked(*both, cross_country_boost=0.0)

    assert boosted["nairobi"][:2] == ["lisbon", "kisumu"]
    assert flat["nairobi"][:2] == ["kisumu", "lisbon"]  # tie on fit: hub id decides


async def test_reciprocity_needs_both_sides_to_want_each_other() -> None:
    """Oslo offers what Nairobi seeks but wants nothing Nairobi has: reciprocal scoring puts
    Lisbon (both ways) first; one-way scoring cannot tell them apart."""
    oslo = hub("Oslo", "NO", "Remote sensing.", "Partners in energy.", sdgs=[2, 13])
    both = (("nairobi", NAIROBI), ("lisbon", LISBON), ("oslo", oslo))

    reciprocal = await _ranked(*both)
    one_way = await _ranked(*both, reciprocal=False)

    assert reciprocal["nairobi"][0] == "lisbon"
    assert one_way["nairobi"][0] == "oslo"  # shares more SDGs with Nairobi


async def test_members_move_a_hub_that_says_little() -> None:
    """A hub with no offers text is matched by what its members do."""
    quiet = hub("Quiet", "FR", "", "Partners in crop model.")
    kept, _, _, _ = keeper()
    await kept.put_hubs(
        [upserted("nairobi", NAIROBI), upserted("quiet", quiet), upserted("accra", ACCRA)]
    )
    before = partners(kept.sides(), HubScoring(), top_n=10)
    await kept.put_members(
        [
            (f"m{i}", member(f"m{i}", ["quiet"], E0, E1, expertise=["remote sensing"]))
            for i in range(3)
        ]
    )
    after = partners(kept.sides(), HubScoring(), top_n=10)

    assert (
        before["nairobi"][0].hub_id != "quiet"
        or before["nairobi"][0].score < after["nairobi"][0].score
    )
    assert after["nairobi"][0].hub_id == "quiet"
    sentences = [reason_sentence(r, "Quiet") for r in after["nairobi"][0].reasons]
    assert "Quiet members offer remote sensing, which your hub seeks (3 members)." in sentences
    assert "Quiet is based in France, another country." in sentences


async def test_reasons_name_the_sdgs_both_work_on() -> None:
    kept, _, _, _ = keeper()
    await kept.put_hubs([upserted("nairobi", NAIROBI), upserted("lisbon", LISBON)])

    found = partners(kept.sides(), HubScoring(), top_n=10)["nairobi"][0]

    sentences = [reason_sentence(r, "Lisbon") for r in found.reasons]
    assert "You both work on SDG 13 (Climate action)." in sentences
    assert "Lisbon offers collaboration on projects, which you seek." in sentences


async def test_shared_words_are_shown_as_written_not_as_stems() -> None:
    """The words both hubs use are matched stemmed ("sens"), and shown as a person wrote them."""
    kept, _, _, _ = keeper()
    seeker = hub("Nairobi", "KE", "Health data.", "Drought sensing and flooding alerts.")
    offerer = hub("Lisbon", "PT", "We do drought sensing and flooding maps.", "Energy.")
    await kept.put_hubs([upserted("nairobi", seeker), upserted("lisbon", offerer)])

    found = partners(kept.sides(), HubScoring(), top_n=10)["nairobi"][0]

    shared = next(r for r in found.reasons if r.kind == "shared_words")
    assert set(shared.params["words"]) == {"drought", "sensing", "flooding"}  # type: ignore[arg-type]
    assert "sens," not in shared.text


def test_region_scope_keeps_partners_of_the_readers_region() -> None:
    kisumu = HubPartner(hub_id="k", name="K", country="UG", region="Africa", score=1.0)
    lisbon = HubPartner(hub_id="l", name="L", country="PT", region="Europe", score=1.0)

    assert [p.hub_id for p in (kisumu, lisbon) if in_scope(p, "Africa", "region")] == ["k"]
    assert [p.hub_id for p in (kisumu, lisbon) if in_scope(p, "Africa", "anywhere")] == ["k", "l"]


# --------------------------------------------------------------------------- keeper


async def test_lists_are_published_then_stored_and_unchanged_lists_are_not_sent_again() -> None:
    kept, publisher, store, _ = keeper()
    await kept.put_hubs([upserted("nairobi", NAIROBI), upserted("lisbon", LISBON)])

    first = await kept.recompute()
    again = await kept.recompute(force=True)

    assert sorted(e.hub_id for e in first) == ["lisbon", "nairobi"]
    assert again == []
    sent = publisher.on(HUB_PARTNERS)
    assert [r.key for r in sent] == [e.hub_id for e in first]
    stored = await store.partners("nairobi")
    assert isinstance(stored, HubPartnersComputed)
    assert [p.hub_id for p in stored.partners] == ["lisbon"]
    assert stored.region == "Africa"
    assert await store.leaders("nairobi") == ["lead-nairobi"]


async def test_member_updates_recompute_at_most_once_per_interval() -> None:
    kept, publisher, _, now = keeper(interval_s=30.0)
    await kept.put_hubs(
        [upserted("nairobi", NAIROBI), upserted("lisbon", LISBON), upserted("accra", ACCRA)]
    )
    await kept.recompute()
    sent = len(publisher.on(HUB_PARTNERS))

    for second in range(1, 10):
        now[0] = float(second)
        await kept.put_members(
            [(f"m{second}", member(f"m{second}", ["accra"], unit(1, 0, 0, 0.1), E1))]
        )
        await kept.recompute()
    held = len(publisher.on(HUB_PARTNERS))
    now[0] = 31.0
    await kept.recompute()

    assert held == sent  # nothing within the interval
    assert len(publisher.on(HUB_PARTNERS)) > held  # accra's members changed its fit: sent once due
    assert kept.schedule.marked == set()


async def test_a_failed_publish_keeps_the_hubs_marked() -> None:
    kept, publisher, store, _ = keeper()
    await kept.put_hubs([upserted("nairobi", NAIROBI), upserted("lisbon", LISBON)])
    publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        await kept.recompute()

    assert await store.partners("nairobi") is None
    assert kept.schedule.marked == {"nairobi", "lisbon"}
    assert len(await kept.recompute()) == 2


async def test_a_deleted_hub_leaves_every_list_and_the_store() -> None:
    kept, _, store, _ = keeper()
    await kept.put_hubs(
        [upserted(h, p) for h, p in (("nairobi", NAIROBI), ("lisbon", LISBON), ("accra", ACCRA))]
    )
    await kept.recompute()

    await kept.drop_hubs(["lisbon"])
    await kept.recompute()

    nairobi = await store.partners("nairobi")
    assert nairobi is not None
    assert [p.hub_id for p in nairobi.partners] == ["accra"]
    assert await store.partners("lisbon") is None
    assert await store.leaders("lisbon") == []


async def test_a_hidden_hub_is_suggested_to_no_one_and_dismissed_hubs_leave_the_list() -> None:
    hidden = HubProfile.model_validate(
        KISUMU.model_dump() | {"visibility": {"discoverable": False}}
    )
    kept, _, store, _ = keeper()
    await kept.put_hubs(
        [
            upserted(h, p)
            for h, p in (
                ("nairobi", NAIROBI),
                ("lisbon", LISBON),
                ("kisumu", hidden),
                ("accra", ACCRA),
            )
        ]
    )
    await store.choose("nairobi", "accra", accept=False)

    await kept.recompute()

    nairobi = await store.partners("nairobi")
    assert nairobi is not None
    assert [p.hub_id for p in nairobi.partners] == ["lisbon"]


# --------------------------------------------------------------------------- choices


async def test_accepted_both_ways_introduces_the_leaders_once_through_feedback() -> None:
    publisher, store = InMemoryPublisher(service="matching"), MemoryHubStore()
    await store.put_leaders("nairobi", ["lead-n", "regional-n"])
    await store.put_leaders("lisbon", ["lead-l"])

    one_way = await choose(store, publisher, "nairobi", "lisbon", accept=True)
    mutual = await choose(store, publisher, "lisbon", "nairobi", accept=True)
    again = await choose(store, publisher, "nairobi", "lisbon", accept=True)

    assert (one_way.mutual, one_way.introduced) == (False, False)
    assert (mutual.mutual, mutual.introduced) == (True, True)
    assert (again.mutual, again.introduced) == (True, False)
    sent = [r.event for r in publisher.on(FEEDBACK)]
    assert all(isinstance(e, FeedbackGiven) and e.action is FeedbackAction.ACCEPT for e in sent)
    assert {(e.member_id, e.candidate_id) for e in sent if isinstance(e, FeedbackGiven)} == {
        ("lead-l", "lead-n"),
        ("lead-n", "lead-l"),
    }


async def test_a_failed_introduction_is_tried_again_on_the_next_accept() -> None:
    publisher, store = InMemoryPublisher(service="matching"), MemoryHubStore()
    await store.put_leaders("nairobi", ["lead-n"])
    await store.put_leaders("lisbon", ["lead-l"])
    await choose(store, publisher, "nairobi", "lisbon", accept=True)
    publisher.fail_next = ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        await choose(store, publisher, "lisbon", "nairobi", accept=True)
    retried = await choose(store, publisher, "lisbon", "nairobi", accept=True)

    assert retried.introduced
    assert len(publisher.on(FEEDBACK)) == 2


async def test_a_dismissal_withdraws_an_acceptance() -> None:
    publisher, store = InMemoryPublisher(service="matching"), MemoryHubStore()
    await store.put_leaders("nairobi", ["lead-n"])
    await store.put_leaders("lisbon", ["lead-l"])
    await choose(store, publisher, "nairobi", "lisbon", accept=True)
    await choose(store, publisher, "nairobi", "lisbon", accept=False)

    answer = await choose(store, publisher, "lisbon", "nairobi", accept=True)

    assert not answer.mutual
    assert publisher.on(FEEDBACK) == []
    assert await store.dismissed("nairobi") == {"lisbon"}


# --------------------------------------------------------------------------- handlers


async def test_a_hub_record_under_another_key_is_refused_and_a_tombstone_drops_the_hub() -> None:
    kept, _, store, _ = keeper()
    handler = ApplyHubs(kept)

    def record(key: str, event: HubUpserted | None, offset: int) -> Inbound[Any]:
        return Inbound(key, event, "hubs.v1", 0, offset, 0)

    refused = await handler(
        [
            record("nairobi", upserted("nairobi", NAIROBI), 0),
            record("someone-else", upserted("lisbon", LISBON), 1),
            record("accra", upserted("accra", ACCRA), 2),
        ]
    )
    dropped = await handler([record("accra", None, 3)])

    assert [r.record.offset for r in refused] == [1]
    assert "is not the event's hub_id 'lisbon'" in refused[0].reason
    assert dropped == []
    assert sorted(kept.book.hubs) == ["nairobi"]
    assert await store.leaders("accra") == []
