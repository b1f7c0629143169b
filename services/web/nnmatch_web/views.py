"""Pure helpers of the pages: forms → API bodies, API answers → what a page shows.

No HTTP here: the routes (pages.py modules) read requests and call the APIs; these functions
only turn one shape into another, so they are tested without a server or a browser.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from prometheus_client.parser import text_string_to_metric_families

from nnmatch_web.catalogue import KIND_LABELS

Form = Mapping[str, Sequence[str]]
_SLUG = re.compile(r"[^a-z0-9]+")
PROJECT_ID_MAX = 48
LEADER_ROLES = ("leader", "regional", "impact")
PARTNER_SCOPES = ("anywhere", "region")
_SPLIT = re.compile(r"[,;\n]+")


def parse_form(body: bytes) -> dict[str, list[str]]:
    """An `application/x-www-form-urlencoded` body; blank values kept (an emptied field)."""
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def first(form: Form, name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0].strip() if values else default


def split_list(text: str) -> list[str]:
    """'computer vision, agritech' (commas, semicolons or new lines) → a list, blanks dropped."""
    return [part.strip() for part in _SPLIT.split(text) if part.strip()]


def split_codes(text: str) -> list[str]:
    """'en, sw' or 'en sw' → ['en', 'sw']: codes never contain spaces."""
    return [part for part in re.split(r"[\s,;]+", text) if part]


def _ints(values: Iterable[str]) -> list[int | str]:
    """Numbers as numbers; anything else passed on as text for the API to refuse by name."""
    return [int(v) if v.isdigit() else v for v in values if v]


def checked(form: Form, name: str) -> bool:
    return bool(form.get(name))


def profile_body(form: Form) -> dict[str, Any]:
    """The profile form → the body of `PUT /v1/members/{id}`."""
    return {
        "display_name": first(form, "display_name"),
        "headline": first(form, "headline"),
        "bio": first(form, "bio"),
        "expertise": split_list(first(form, "expertise")),
        "interests": split_list(first(form, "interests")),
        "sdgs": _ints(form.get("sdgs", [])),
        "offers": {"kinds": list(form.get("offers_kinds", [])), "text": first(form, "offers_text")},
        "seeks": {"kinds": list(form.get("seeks_kinds", [])), "text": first(form, "seeks_text")},
        "country": first(form, "country"),
        "languages": split_codes(first(form, "languages")),
        "organisation": {
            "name": first(form, "organisation_name"),
            "type": first(form, "organisation_type", "other"),
        },
        "hubs": split_codes(first(form, "hubs")),
        "visibility": {
            "discoverable": checked(form, "discoverable"),
            "show_organisation": checked(form, "show_organisation"),
        },
    }


def empty_profile() -> dict[str, Any]:
    """What the profile form shows a member who has none yet."""
    return {
        "display_name": "",
        "headline": "",
        "bio": "",
        "expertise": [],
        "interests": [],
        "sdgs": [],
        "offers": {"kinds": [], "text": ""},
        "seeks": {"kinds": [], "text": ""},
        "country": "",
        "languages": [],
        "organisation": {"name": "", "type": "other"},
        "hubs": [],
        "visibility": {"discoverable": True, "show_organisation": True},
    }


def preferences_body(form: Form) -> dict[str, Any]:
    """The preferences form → the body of `PUT /v1/members/{id}/preferences`."""
    quiet = None
    if checked(form, "quiet_enabled"):
        quiet = {
            "start": first(form, "quiet_start"),
            "end": first(form, "quiet_end"),
            "tz": first(form, "quiet_tz"),
        }
    cap = first(form, "daily_cap", "5")
    return {
        "channels": list(form.get("channels", [])),
        "frequency": first(form, "frequency", "instant"),
        "quiet_hours": quiet,
        "daily_cap": int(cap) if cap.isdigit() else cap,
        "opted_out": checked(form, "opted_out"),
    }


def contact_body(form: Form) -> dict[str, Any]:
    """The contact form → the body of `PUT /v1/members/{id}/contact`."""
    return {
        "email": first(form, "email") or None,
        "webhook_url": first(form, "webhook_url") or None,
        "share_in_introductions": ["email"] if checked(form, "share_email") else [],
    }


def field_errors(problem: Mapping[str, Any] | None, top: bool = False) -> dict[str, str]:
    """A 422 problem document's `errors` as {field: reason} ('offers.text': 'too long'); with
    `top`, by the form's field ('languages.1' → 'languages'), the first reason of each."""
    errors: dict[str, str] = {}
    for error in (problem or {}).get("errors", None) or []:
        if isinstance(error, Mapping):
            field = str(error.get("field", "body"))
            errors.setdefault(field.split(".")[0] if top else field, str(error.get("reason", "")))
    return errors


@dataclass(frozen=True)
class ScoreView:
    """A score a person reads: a word, and a number out of 100."""

    label: str
    points: int


def score_view(score: float) -> ScoreView:
    points = max(0, min(100, round(score * 100)))
    if score >= 0.7:
        label = "Strong match"
    elif score >= 0.5:
        label = "Good match"
    else:
        label = "Possible match"
    return ScoreView(label=label, points=points)


def safe_next(target: str | None) -> str | None:
    """A same-site path to return to after sign-in, or None (never another site)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ch in target for ch in "\r\n\\"):
        return None
    return target


def member_in_path(target: str | None) -> str | None:
    """The member id of a `/members/{id}...` path (to offer signing in as them on the dev stack)."""
    match = re.match(r"^/members/([A-Za-z0-9_-]{1,64})(?:/|$)", target or "")
    return match.group(1) if match else None


# --- hub search --------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchForm:
    """What a hub typed and ticked, as the page shows it back."""

    query: str = ""
    countries: str = ""
    regions: tuple[str, ...] = ()
    sdgs: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    languages: str = ""
    hubs: str = ""
    cursor: str | None = None

    @classmethod
    def from_query(cls, params: Form) -> SearchForm:
        return cls(
            query=first(params, "q"),
            countries=first(params, "countries"),
            regions=tuple(params.get("regions", [])),
            sdgs=tuple(params.get("sdgs", [])),
            kinds=tuple(params.get("kinds", [])),
            languages=first(params, "languages"),
            hubs=first(params, "hubs"),
            cursor=first(params, "cursor") or None,
        )

    def body(self, limit: int) -> dict[str, Any]:
        """The body of `POST /v1/search`."""
        return {
            "query": self.query,
            "filters": {
                "countries": split_codes(self.countries),
                "regions": list(self.regions),
                "sdgs": _ints(self.sdgs),
                "kinds": list(self.kinds),
                "languages": split_codes(self.languages),
                "hubs": split_codes(self.hubs),
            },
            "limit": limit,
            "cursor": self.cursor,
        }

    def active_filters(self) -> list[str]:
        """The filters in words, for the collapsed filter panel ('SDG 13', 'Africa', 'KE')."""
        return [
            *self.regions,
            *split_codes(self.countries.upper()),
            *(f"SDG {s}" for s in self.sdgs),
            *(KIND_LABELS.get(k, k) for k in self.kinds),
            *split_codes(self.languages),
            *split_codes(self.hubs),
        ]

    def query_string(self, cursor: str | None = None) -> str:
        """This search as a URL query (for the next page: the same search, another cursor)."""
        pairs: list[tuple[str, str]] = [("q", self.query)]
        if self.countries:
            pairs.append(("countries", self.countries))
        pairs += [("regions", r) for r in self.regions]
        pairs += [("sdgs", s) for s in self.sdgs]
        pairs += [("kinds", k) for k in self.kinds]
        if self.languages:
            pairs.append(("languages", self.languages))
        if self.hubs:
            pairs.append(("hubs", self.hubs))
        if cursor:
            pairs.append(("cursor", cursor))
        return urlencode(pairs)


CSV_COLUMNS = (
    "member_id",
    "display_name",
    "headline",
    "country",
    "languages",
    "sdgs",
    "offers_kinds",
    "offers",
    "seeks_kinds",
    "seeks",
    "organisation",
    "hubs",
)


def _cell(value: str) -> str:
    """Defuse spreadsheet formulas: a cell starting with = + - @ (or tab/CR) is read as text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def shortlist_csv(profiles: Iterable[Mapping[str, Any]]) -> str:
    """Stored profiles (`GET /v1/members/{id}` answers, visible fields) as CSV rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for stored in profiles:
        p = stored.get("profile", {})
        organisation = p.get("organisation") or {}
        row = [
            stored.get("member_id", ""),
            p.get("display_name", ""),
            p.get("headline", ""),
            p.get("country", ""),
            " ".join(p.get("languages", [])),
            " ".join(str(s) for s in p.get("sdgs", [])),
            " ".join(p.get("offers", {}).get("kinds", [])),
            p.get("offers", {}).get("text", ""),
            " ".join(p.get("seeks", {}).get("kinds", [])),
            p.get("seeks", {}).get("text", ""),
            organisation.get("name", ""),
            " ".join(p.get("hubs", [])),
        ]
        writer.writerow([_cell(str(v)) for v in row])
    return out.getvalue()


# --- hub pages ----------------------------------------------------------------------------


def _intent(form: Form, prefix: str) -> dict[str, Any]:
    return {"kinds": list(form.get(f"{prefix}_kinds", [])), "text": first(form, f"{prefix}_text")}


def parse_leaders(text: str) -> list[dict[str, str]]:
    """'amina-lead leader' per line (or 'amina-lead, impact') → leaders; a line without a
    role leads as 'leader'. Anything odd is passed on for the API to refuse by name."""
    leaders = []
    for line in text.splitlines():
        parts = [p for p in re.split(r"[\s,;]+", line) if p]
        if parts:
            leaders.append(
                {"member_id": parts[0], "role": parts[1] if len(parts) > 1 else "leader"}
            )
    return leaders


def leaders_text(leaders: Iterable[Mapping[str, str]]) -> str:
    return "\n".join(f"{leader['member_id']} {leader['role']}" for leader in leaders)


def hub_body(form: Form) -> dict[str, Any]:
    """The hub profile form → the body of `PUT /v1/hubs/{hub_id}`."""
    return {
        "name": first(form, "name"),
        "country": first(form, "country"),
        "sdgs": _ints(form.get("sdgs", [])),
        "focus": first(form, "focus"),
        "offers": _intent(form, "offers"),
        "seeks": _intent(form, "seeks"),
        "languages": split_codes(first(form, "languages")),
        "leaders": parse_leaders(first(form, "leaders")),
        "visibility": {"discoverable": checked(form, "discoverable")},
    }


def empty_hub() -> dict[str, Any]:
    """What the hub form shows a hub that has no profile yet."""
    return {
        "name": "",
        "country": "",
        "sdgs": [],
        "focus": "",
        "offers": {"kinds": [], "text": ""},
        "seeks": {"kinds": [], "text": ""},
        "languages": [],
        "leaders": [],
        "visibility": {"discoverable": True},
    }


def project_body(form: Form) -> dict[str, Any]:
    """The project form → the body of `PUT /v1/hubs/{hub_id}/projects/{project_id}`."""
    return {
        "title": first(form, "title"),
        "description": first(form, "description"),
        "sdgs": _ints(form.get("sdgs", [])),
        "seeks": _intent(form, "seeks"),
        "languages": split_codes(first(form, "languages")),
        "open": checked(form, "open"),
    }


def empty_project() -> dict[str, Any]:
    return {
        "title": "",
        "description": "",
        "sdgs": [],
        "seeks": {"kinds": [], "text": ""},
        "languages": [],
        "open": True,
    }


def new_project_id(title: str, taken: Iterable[str]) -> str:
    """A readable id for a new project from its title ('Drought watch!' → 'drought-watch'),
    never one the hub uses already (a PUT there would replace that project)."""
    base = _SLUG.sub("-", title.lower()).strip("-")[:PROJECT_ID_MAX].strip("-") or "project"
    used = set(taken)
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base[: PROJECT_ID_MAX - len(str(n)) - 1]}-{n}"
    return candidate


def partner_scope(value: str | None) -> str:
    """The partner page's scope switch; anything else reads as 'anywhere'."""
    return value if value in PARTNER_SCOPES else "anywhere"


def shortlisted_ids(page: Mapping[str, Any]) -> list[str]:
    """The member ids of a `GET /v1/hubs/{hub_id}/shortlist` answer, in its order."""
    return [str(item["member_id"]) for item in page.get("items", [])]


INVITATION_STATUS_LABELS = {
    "pending": "Invited: no answer yet",
    "accepted": "Accepted",
    "declined": "Declined",
}
INVITATION_ANSWERS = ("accept", "decline")


def invitation_statuses(page: Mapping[str, Any]) -> dict[str, str]:
    """Member id → the status of their invitation, from a project's invitations list, so a
    candidate already invited shows how they answered instead of an Invite button."""
    return {str(i["member_id"]): str(i.get("status", "pending")) for i in page.get("items", [])}


def invitation_counts(statuses: Mapping[str, str]) -> dict[str, int]:
    """How many invitations wait, were accepted and were declined."""
    counts = dict.fromkeys(INVITATION_STATUS_LABELS, 0)
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def as_sentence(text: str) -> str:
    """A service's reason ("project 'x' is closed: …") as a sentence to show on its own."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def invitation_answer(value: str) -> bool | None:
    """'accept' → True, 'decline' → False; anything else None (refused by the page)."""
    return {"accept": True, "decline": False}.get(value)


# --- operators' status --------------------------------------------------------------------


@dataclass
class ServiceStatus:
    """What the status page says about one service, from its `/readyz` and `/metrics`."""

    name: str
    url: str
    reachable: bool = False
    ready: bool = False
    failing: dict[str, str] = field(default_factory=dict)
    members_indexed: int | None = None
    lag: dict[tuple[str, str], float] = field(default_factory=dict)  # (group, topic) → records
    dead_letters: dict[str, float] = field(default_factory=dict)  # DLQ topic → records written
    consumed: dict[tuple[str, str], float] = field(default_factory=dict)  # (group, topic) → ok


def read_status(
    name: str, url: str, ready_code: int | None, ready_body: Any, metrics: str | None
) -> ServiceStatus:
    """A service's status from its readiness answer and its Prometheus exposition."""
    status = ServiceStatus(name=name, url=url, reachable=ready_code is not None)
    status.ready = ready_code == 200
    if isinstance(ready_body, Mapping) and isinstance(ready_body.get("failing"), Mapping):
        status.failing = {str(k): str(v) for k, v in ready_body["failing"].items()}
    if metrics:
        _read_metrics(status, metrics)
    return status


def _read_metrics(status: ServiceStatus, text: str) -> None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "nnmatch_index_members":
                status.members_indexed = int(sample.value)
            elif sample.name == "nnmatch_kafka_consumer_lag_records":
                key = (labels.get("group", ""), labels.get("topic", ""))
                status.lag[key] = status.lag.get(key, 0.0) + sample.value
            elif sample.name == "nnmatch_kafka_records_produced_total" and labels.get(
                "topic", ""
            ).endswith(".dlq"):
                topic = labels["topic"]
                status.dead_letters[topic] = status.dead_letters.get(topic, 0.0) + sample.value
            elif sample.name == "nnmatch_kafka_records_consumed_total":
                key = (labels.get("group", ""), labels.get("topic", ""))
                status.consumed[key] = status.consumed.get(key, 0.0) + sample.value
