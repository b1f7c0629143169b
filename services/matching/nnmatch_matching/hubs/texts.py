"""A hub's own words → the three texts embedded for it, the same way as a member's.

Pure. Kinds read as the member texts read them (`OFFER_PHRASES`, `SEEK_PHRASES`), so a hub's
"offers collaboration on projects" meets a member's or another hub's "seeks collaborators".
"""

from __future__ import annotations

from nnmatch.events import VectorKind
from nnmatch.hub import HubProfile
from nnmatch.profile import SDG_NAMES
from nnmatch_matching.embedding.texts import OFFER_PHRASES, SEEK_PHRASES


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _listed(label: str, items: list[str]) -> str:
    return f"{label}: {', '.join(items)}." if items else ""


def hub_texts(hub: HubProfile) -> dict[VectorKind, str]:
    """Who the hub is (focus and SDGs), what it offers, what it seeks; "" where it said nothing."""
    offers = (
        _join(_listed("Offers", [OFFER_PHRASES[k] for k in hub.offers.kinds]), hub.offers.text)
        if hub.offers.kinds or hub.offers.text
        else ""
    )
    seeks = (
        _join(_listed("Seeks", [SEEK_PHRASES[k] for k in hub.seeks.kinds]), hub.seeks.text)
        if hub.seeks.kinds or hub.seeks.text
        else ""
    )
    profile = _join(hub.focus, _listed("Works on", [SDG_NAMES[n] for n in hub.sdgs]))
    return {VectorKind.PROFILE: profile, VectorKind.OFFERS: offers, VectorKind.SEEKS: seeks}
