"""Versioned event contracts: the only wire format between services.

Every value on a topic is one of these models as JSON, with `type`, `event_id`, `schema_version`,
`occurred_at` and `producer`. A consumer decodes with `decode_event`, which raises
`UndecodableRecord` naming the cause, so the shell can dead-letter the record instead of
stalling the partition. Example messages per event and version live in `examples/`.

Evolution (docs/EVENTS.md): within a `schema_version` a producer may add optional fields and
never removes a field or changes its meaning. So readers are tolerant and writers strict: the
models forbid unknown fields when our code builds them, and `decode_event` ignores fields it
does not know, at any depth, so a record from a newer release is read during a rolling upgrade
instead of dead-lettered. A higher `schema_version` is a breaking change and is dead-lettered.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from uuid import UUID, uuid4

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from nnmatch.contact import Channel, DeliverySettings
from nnmatch.hub import HUB_ID_PATTERN, PROJECT_ID_PATTERN, HubProfile, ProjectProfile
from nnmatch.profile import (
    MAX_DISPLAY_NAME,
    MAX_HEADLINE,
    MAX_HUBS,
    MAX_LANGUAGES,
    MAX_OFFER_SEEK_TEXT,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MEMBER_ID_PATTERN,
    Kind,
    MemberProfile,
    OrganisationType,
)

MemberId = Annotated[str, Field(pattern=MEMBER_ID_PATTERN)]
MAX_RECORD_BYTES = 1_000_000
# Field limits of the derived events mirror the profile's, so an oversized value on any topic
# is refused at decoding (and dead-lettered) instead of reaching an index or an inbox.
MAX_NAME = 200
MAX_REASON_TEXT = 2 * MAX_OFFER_SEEK_TEXT + 500
MAX_REASONS = 20
MAX_REASON_PARAMS = 8
MAX_SUGGESTIONS = 100
MAX_VECTOR_DIMENSIONS = 8192
MAX_VECTOR_LENGTH = 2.0**60
"""The longest vector a matcher takes (the model's are unit length): its grid holds every dot
product of two vectors up to this long exactly in float32 (`matcher/exact_dots.py`)."""
MAX_PROFILE_TERMS = 4_000
"""Distinct analysed terms a vectors event carries: more than an 8,000-character bio holds."""
MAX_TERM = 64
Tag = Annotated[str, Field(max_length=MAX_TAG_LENGTH)]


def utc_now() -> datetime:
    return datetime.now(UTC)


class UndecodableRecord(ValueError):
    """A record that is not a valid event of the types a topic carries; goes to the DLQ."""


class Event(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: UUID = Field(default_factory=uuid4)
    schema_version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    producer: str = Field(min_length=1, max_length=MAX_NAME)


# --- profiles.v1 ------------------------------------------------------------------------------


class ProfileUpserted(Event):
    """The member's full profile; the latest one per member wins (compacted topic)."""

    type: Literal["ProfileUpserted"] = "ProfileUpserted"
    member_id: MemberId
    version: int = Field(ge=1)
    profile: MemberProfile
    origin: Literal["import"] | None = Field(
        default=None,
        description="`import` when written by the bulk import: notifications then hold the "
        "suggestions it causes until lists settle. Absent for a member's own edits.",
    )


class ProfileDeleted(Event):
    """The member asked to be erased; a tombstone for the key follows."""

    type: Literal["ProfileDeleted"] = "ProfileDeleted"
    member_id: MemberId


# --- hubs.v1 ----------------------------------------------------------------------------------

HubId = Annotated[str, Field(pattern=HUB_ID_PATTERN)]
ProjectId = Annotated[str, Field(pattern=PROJECT_ID_PATTERN)]


class HubUpserted(Event):
    """The hub's full profile; the latest one per hub wins (compacted topic)."""

    type: Literal["HubUpserted"] = "HubUpserted"
    hub_id: HubId
    version: int = Field(ge=1)
    hub: HubProfile


class HubDeleted(Event):
    """The hub was removed; a tombstone for the key follows (its projects are deleted too)."""

    type: Literal["HubDeleted"] = "HubDeleted"
    hub_id: HubId


# --- projects.v1 ------------------------------------------------------------------------------


class ProjectUpserted(Event):
    """A hub's project in full; keyed `<hub_id>/<project_id>`, the latest one wins."""

    type: Literal["ProjectUpserted"] = "ProjectUpserted"
    hub_id: HubId
    project_id: ProjectId
    version: int = Field(ge=1)
    project: ProjectProfile


class ProjectDeleted(Event):
    """The project was removed (or its hub was); a tombstone for the key follows."""

    type: Literal["ProjectDeleted"] = "ProjectDeleted"
    hub_id: HubId
    project_id: ProjectId


# --- profile-vectors.v1 -----------------------------------------------------------------------


class VectorKind(StrEnum):
    PROFILE = "profile"
    OFFERS = "offers"
    SEEKS = "seeks"


class EmbeddingModel(BaseModel):
    """Which model made a vector: vectors of different models are never compared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=MAX_NAME)
    version: str = Field(max_length=MAX_NAME)
    dimensions: int = Field(ge=1, le=MAX_VECTOR_DIMENSIONS)


STATIC_TIER = "static"
"""The embedding backend of the fast, weaker first pass; its model versions end `-static`."""


def is_static_tier(model_id: str) -> bool:
    """Whether vectors or a list (`model_id` as `MatchesComputed` carries it, `id@version`)
    come from the static first pass (NNMATCH_EMBEDDING_BACKEND=static): such lists are served,
    but not delivered to inboxes, as switching back to the full model will change them."""
    return model_id.endswith(f"-{STATIC_TIER}")


class MemberCard(BaseModel):
    """What matching may know and show of a member: the profile minus bio, nothing private.

    Contact details never reach matching; the organisation only if the member shows it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    display_name: str = Field(max_length=MAX_DISPLAY_NAME)
    headline: str = Field(default="", max_length=MAX_HEADLINE)
    country: str = Field(max_length=8)
    languages: list[Annotated[str, Field(max_length=8)]] = Field(max_length=MAX_LANGUAGES)
    sdgs: list[int] = Field(default_factory=list, max_length=17)
    expertise: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    interests: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    offers_kinds: list[Kind] = Field(default_factory=list, max_length=len(Kind))
    offers_text: str = Field(default="", max_length=MAX_OFFER_SEEK_TEXT)
    seeks_kinds: list[Kind] = Field(default_factory=list, max_length=len(Kind))
    seeks_text: str = Field(default="", max_length=MAX_OFFER_SEEK_TEXT)
    hubs: list[Annotated[str, Field(max_length=MAX_NAME)]] = Field(
        default_factory=list, max_length=MAX_HUBS
    )
    organisation_name: str | None = Field(default=None, max_length=MAX_HEADLINE)
    organisation_type: OrganisationType | None = None
    discoverable: bool = True

    @classmethod
    def from_profile(cls, profile: MemberProfile) -> MemberCard:
        show_org = profile.visibility.show_organisation
        return cls(
            display_name=profile.display_name,
            headline=profile.headline,
            country=profile.country,
            languages=profile.languages,
            sdgs=profile.sdgs,
            expertise=profile.expertise,
            interests=profile.interests,
            offers_kinds=profile.offers.kinds,
            offers_text=profile.offers.text,
            seeks_kinds=profile.seeks.kinds,
            seeks_text=profile.seeks.text,
            hubs=profile.hubs,
            organisation_name=profile.organisation.name or None if show_org else None,
            organisation_type=profile.organisation.type if show_org else None,
            discoverable=profile.visibility.discoverable,
        )


def encode_vector(vector: npt.NDArray[np.float32]) -> str:
    """Little-endian float32, base64: exact and a quarter the size of a JSON float list."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(encoded: str) -> npt.NDArray[np.float32]:
    return np.frombuffer(base64.b64decode(encoded), dtype="<f4").astype(np.float32)


class ProfileVectorsComputed(Event):
    """A member's vectors (profile / offers / seeks), the texts' hashes and the member's card."""

    type: Literal["ProfileVectorsComputed"] = "ProfileVectorsComputed"
    member_id: MemberId
    profile_version: int = Field(ge=1)
    model: EmbeddingModel
    vectors: dict[VectorKind, str]
    text_hashes: dict[VectorKind, Annotated[str, Field(max_length=128)]]
    card: MemberCard
    terms: dict[Annotated[str, Field(max_length=MAX_TERM)], Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        max_length=MAX_PROFILE_TERMS,
        description=(
            "The analysed words of the member's whole profile (bio included) with their counts, "
            "for the matcher's lexical side; the bio itself goes no further than the embedder. "
            "Empty from a producer before this field: the matcher then reads the card's words."
        ),
    )
    source_occurred_at: AwareDatetime | None = Field(
        default=None,
        description="When the profile event this follows from happened (end-to-end latency).",
    )
    origin: Literal["import"] | None = Field(
        default=None,
        description="The profile event's `origin`: `import` when the bulk import wrote it. The "
        "matcher ranks the lists an import alters once it pauses, not as each member arrives.",
    )

    @model_validator(mode="after")
    def _vectors_fit_the_model(self) -> ProfileVectorsComputed:
        """Every kind present, each `model.dimensions` finite float32s: else no index takes it."""
        missing = [k.value for k in VectorKind if k not in self.vectors]
        if missing:
            raise ValueError(f"vectors missing: {', '.join(missing)}")
        width = self.model.dimensions * 4
        for kind, encoded in self.vectors.items():
            if len(encoded) > 4 * (width + 2) // 3 + 4:
                raise ValueError(f"{kind.value} vector longer than {self.model.dimensions} floats")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"{kind.value} vector is not base64: {exc}") from exc
            if len(raw) != width:
                raise ValueError(
                    f"{kind.value} vector has {len(raw)} bytes; model dimensions "
                    f"{self.model.dimensions} need {width}"
                )
            values = np.frombuffer(raw, dtype="<f4").astype(np.float64)
            if not np.isfinite(values).all():
                raise ValueError(f"{kind.value} vector holds NaN or infinity")
            norm = float(np.sqrt(values @ values))
            if norm > MAX_VECTOR_LENGTH:
                raise ValueError(
                    f"{kind.value} vector's norm {norm:.3g} is above 2^60 (the model's vectors "
                    "have norm 1)"
                )
        return self

    def vector(self, kind: VectorKind) -> npt.NDArray[np.float32]:
        return decode_vector(self.vectors[kind])


# --- matches.v1 -------------------------------------------------------------------------------


ReasonParam = (
    Annotated[str, Field(max_length=MAX_REASON_TEXT)] | int | float | list[str] | list[int]
)


class Reason(BaseModel):
    """Why a suggestion was made: a `kind` plus the `params` it was computed from (what the
    other side offers, the SDGs shared, whose words are quoted), so pages and e-mails can render
    and later translate it; `text` is the same reason in English for clients that read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(max_length=64)
    text: str = Field(max_length=MAX_REASON_TEXT)
    params: dict[str, ReasonParam] = Field(
        default_factory=dict,
        max_length=MAX_REASON_PARAMS,
        description="The facts behind the reason, by name: `kinds`, `topics`, `sdgs`, `words`, "
        "`country`, `language`, `hub`, `count`, and `quote` (the other side's own words, cut at "
        "a word with an ellipsis; `quote_of` says whose: `them`, `their_members`, `project`).",
    )


class Suggestion(BaseModel):
    """One suggested member; shared by matches, search results and inbox items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    member_id: MemberId
    display_name: str = Field(max_length=MAX_DISPLAY_NAME)
    headline: str = Field(default="", max_length=MAX_HEADLINE)
    country: str = Field(max_length=8)
    score: float = Field(allow_inf_nan=False)
    reasons: list[Reason] = Field(default_factory=list, max_length=MAX_REASONS)
    computed_at: AwareDatetime


class MatchesComputed(Event):
    """A member's current ranked suggestions (replaces the previous list)."""

    type: Literal["MatchesComputed"] = "MatchesComputed"
    member_id: MemberId
    profile_version: int = Field(ge=1)
    model_id: str = Field(max_length=2 * MAX_NAME + 1)
    suggestions: list[Suggestion] = Field(max_length=MAX_SUGGESTIONS)
    source_occurred_at: AwareDatetime | None = Field(
        default=None,
        description="When the profile event this follows from happened (end-to-end latency).",
    )


# --- hub-partners.v1 --------------------------------------------------------------------------


class HubPartner(BaseModel):
    """One suggested partner hub: who it is, where, how well the two fit each other, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hub_id: HubId
    name: str = Field(max_length=MAX_DISPLAY_NAME)
    country: str = Field(max_length=8)
    region: str | None = Field(default=None, max_length=MAX_NAME)
    score: float = Field(allow_inf_nan=False)
    reasons: list[Reason] = Field(default_factory=list, max_length=MAX_REASONS)


class HubPartnersComputed(Event):
    """A hub's current ranked partner hubs, anywhere (replaces the previous list); readers
    filter on `region` for "within my region". Hub-level aggregates only: no member's data."""

    type: Literal["HubPartnersComputed"] = "HubPartnersComputed"
    hub_id: HubId
    hub_version: int = Field(ge=1)
    region: str | None = Field(default=None, max_length=MAX_NAME)
    model_id: str = Field(max_length=2 * MAX_NAME + 1)
    partners: list[HubPartner] = Field(max_length=MAX_SUGGESTIONS)


# --- feedback.v1 ------------------------------------------------------------------------------


class FeedbackAction(StrEnum):
    ACCEPT = "accept"
    DISMISS = "dismiss"
    BLOCK = "block"


class FeedbackGiven(Event):
    """A member's reaction to a suggestion."""

    type: Literal["FeedbackGiven"] = "FeedbackGiven"
    member_id: MemberId
    candidate_id: MemberId
    action: FeedbackAction


# --- contacts.v1 (notifications only) -----------------------------------------------------------


class ContactUpserted(Event):
    """A member's contact details and notification preferences; read only by notifications."""

    type: Literal["ContactUpserted"] = "ContactUpserted"
    member_id: MemberId
    settings: DeliverySettings


# --- deliveries.v1 (notifications only) ---------------------------------------------------------


class DeliveryItem(BaseModel):
    """One suggestion or introduction inside a delivery."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str = Field(max_length=64)
    kind: Literal["suggestion", "introduction", "project_invitation"]
    suggestion: Suggestion
    shared_email: str | None = Field(default=None, max_length=254)


class DeliveryRequested(Event):
    """Send these items to this member by this channel. Written by notifications when a
    delivery failed for good (onto `deliveries.v1.dlq`, with the cause), so that an operator
    can re-drive it (`nnmatch dlq redrive deliveries.v1`) once the receiver is fixed."""

    type: Literal["DeliveryRequested"] = "DeliveryRequested"
    member_id: MemberId
    channel: Channel
    items: list[DeliveryItem] = Field(min_length=1, max_length=MAX_SUGGESTIONS)


# --- moderation.v1 ----------------------------------------------------------------------------


class ReportOutcome(StrEnum):
    SUSPENDED = "suspended"
    DISMISSED = "dismissed"


class MemberSuspended(Event):
    """An operator suspended the member: out of every list and search until unsuspended.

    Keyed by member id (compacted: the latest of suspended/unsuspended is the state)."""

    type: Literal["MemberSuspended"] = "MemberSuspended"
    member_id: MemberId
    operator: MemberId = Field(description="The operator token's `sub`.")


class MemberUnsuspended(Event):
    """An operator lifted the member's suspension; their own visibility applies again."""

    type: Literal["MemberUnsuspended"] = "MemberUnsuspended"
    member_id: MemberId
    operator: MemberId = Field(description="The operator token's `sub`.")


class ReportResolved(Event):
    """A member's report was decided; keyed `report/<report id>`. Notifications tells the
    reporter the outcome in their inbox, once. Ids and the outcome only: no report text."""

    type: Literal["ReportResolved"] = "ReportResolved"
    report_id: Annotated[str, Field(pattern=r"^r-[0-9a-f]{32}$")]
    reporter_id: MemberId
    target_id: MemberId
    outcome: ReportOutcome


# --- <topic>.dlq ------------------------------------------------------------------------------


class DeadLetter(Event):
    """A record a consumer could not process, kept whole with the cause."""

    type: Literal["DeadLetter"] = "DeadLetter"
    original_topic: str
    partition: int
    offset: int
    key: str | None
    value_b64: str | None
    error: str
    consumer_group: str
    value_bytes: int | None = Field(
        default=None, description="Size of the original value; set when `value_b64` is cut."
    )
    value_truncated: bool = Field(
        default=False,
        description="`value_b64` holds only the value's first bytes: the whole would not fit "
        "in a record the broker accepts.",
    )


EVENT_TYPES: tuple[type[Event], ...] = (
    ProfileUpserted,
    ProfileDeleted,
    HubUpserted,
    HubDeleted,
    ProjectUpserted,
    ProjectDeleted,
    ProfileVectorsComputed,
    MatchesComputed,
    HubPartnersComputed,
    FeedbackGiven,
    ContactUpserted,
    DeliveryRequested,
    MemberSuspended,
    MemberUnsuspended,
    ReportResolved,
    DeadLetter,
)
_BY_NAME: dict[str, type[Event]] = {t.model_fields["type"].default: t for t in EVENT_TYPES}

E = TypeVar("E", bound=Event)


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode("utf-8")


def event_type_name(event_type: type[Event]) -> str:
    name: str = event_type.model_fields["type"].default
    return name


def decode_event(raw: bytes, accepted: tuple[type[E], ...]) -> E:
    """Decode one record value as one of `accepted`, or raise `UndecodableRecord` with the cause.

    Unknown fields are ignored (see the module's evolution rule); wrong types, a missing
    required field or another `schema_version` are refused. Values with sealed personal
    fields are opened first by `nnmatch.shredding.open_events`, which ends here too."""
    return decode_data(parse_record(raw), accepted)


def parse_record(raw: bytes) -> dict[str, Any]:
    """A record value's JSON object, or `UndecodableRecord` (too big, not JSON, not an object)."""
    if len(raw) > MAX_RECORD_BYTES:
        raise UndecodableRecord(f"record of {len(raw)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        data: Any = read_json(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableRecord(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UndecodableRecord(f"expected a JSON object, got {type(data).__name__}")
    return data


def read_json(raw: bytes) -> Any:
    """JSON read by orjson, the fast path; what it refuses goes through the standard library's
    reader, which takes what it took before (a NaN, which a model then refuses naming the
    field; a byte-order mark) and refuses in its own words. Nesting deeper than orjson's
    1,024 levels is refused as a decode error, not the standard library's `RecursionError`,
    which no consumer catches as a bad record."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
        except RecursionError as exc:
            raise json.JSONDecodeError("nested too deeply", "", 0) from exc


def decode_data(data: dict[str, Any], accepted: tuple[type[E], ...]) -> E:
    """A parsed (and opened) value as one of `accepted`; see `decode_event`."""
    name = data.get("type")
    event_type = _BY_NAME.get(name) if isinstance(name, str) else None
    if event_type is None or event_type not in accepted:
        expected = ", ".join(event_type_name(t) for t in accepted)
        shown = name[:60] if isinstance(name, str) else name  # never echo a long value
        raise UndecodableRecord(f"unexpected event type {shown!r}; this topic carries {expected}")
    version = data.get("schema_version")
    if version != event_type.SCHEMA_VERSION:
        newer = isinstance(version, int) and version > event_type.SCHEMA_VERSION
        raise UndecodableRecord(
            f"unsupported schema_version {version!r} for {name} "
            f"(this consumer reads {event_type.SCHEMA_VERSION}"
            f"{'; the record is from a newer, incompatible release' if newer else ''})"
        )
    try:
        # Tolerant reader: fields a newer producer added (at any depth) are dropped, not
        # refused; the models stay strict (`extra="forbid"`) for everything our code builds.
        return event_type.model_validate(data, extra="ignore")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise UndecodableRecord(f"invalid {name}: {problems}") from exc


def check_key(key: str | None, event: Event) -> None:
    """Raise `UndecodableRecord` unless a member's event sits under its member id as key.

    Compaction and ordering work per key: a record under another key would outlive its
    member's tombstone, and consumers skip records without a key.
    """
    member_id = getattr(event, "member_id", None)
    if isinstance(member_id, str) and key != member_id:
        raise UndecodableRecord(
            f"key {key!r} is not the event's member_id {member_id!r} "
            "(topics are keyed by member id)"
        )
