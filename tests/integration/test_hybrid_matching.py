"""Member-to-member matching with the lexical side, over the real broker and Redis: the matcher
built from settings lists a member whose words meet the seek though FAISS never returns them."""

from __future__ import annotations

import pytest

from nnmatch.events import ProfileVectorsComputed, encode_event
from nnmatch_matching.bootstrap import build_app
from nnmatch_matching.settings import MatchingSettings
from tests.support import Namespace, as_member, eventually, produce_raw, serving
from tests.unit.test_hybrid_matching import (
    FAR_FIT_WORDS,
    SEEKER_WORDS,
    close_event,
    far_fit_event,
    seeker_event,
)

pytestmark = pytest.mark.integration


async def _write_vectors(namespace: Namespace, *events: ProfileVectorsComputed) -> None:
    await produce_raw(
        namespace,
        "profile-vectors.v1",
        [(e.member_id.encode(), encode_event(e)) for e in events],
    )


# A member may write any word, "sealed" too: it is a key of their vectors event's `terms`, and
# the record opener once took it for sealed fields and dead-lettered the member (found by an
# import of real researchers' bios); through the real broker and matcher they are still listed.
@pytest.mark.parametrize("also_wrote", [{}, {"sealed": 2}], ids=["as is", "writes sealed"])
async def test_the_matcher_lists_a_member_only_the_words_find(
    namespace: Namespace, also_wrote: dict[str, int]
) -> None:
    decoys = [close_event(f"close-{i}", offers_text="Fintech payments") for i in range(3)]
    far_fit = far_fit_event(**FAR_FIT_WORDS)
    far_fit = far_fit.model_copy(update={"terms": {**far_fit.terms, **also_wrote}})
    await _write_vectors(namespace, seeker_event(**SEEKER_WORDS), far_fit, *decoys)
    # One FAISS candidate per search: the decoys fill the dense pool; far-fit's vectors are
    # orthogonal to every search of the seeker's.
    settings = MatchingSettings(
        **namespace.settings(
            roles=["matcher"], embedding_dimensions=4, candidate_k=1, lexical_candidate_k=5
        )
    )
    app = build_app(settings)

    async with serving(app) as client:

        async def listed() -> list[str] | None:
            response = await client.get("/v1/members/seeker/matches", headers=as_member("seeker"))
            if response.status_code != 200:
                return None
            ids = [item["member_id"] for item in response.json()["items"]]
            return ids if "far-fit" in ids else None

        found = await eventually(listed, timeout=60)

    assert app.state.services.engine.lexical_k == 5  # the setting reached the engine
    assert "far-fit" in found
