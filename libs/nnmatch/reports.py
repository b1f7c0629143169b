"""Members' reports about other members, and what operators decide: the shared models.

A report names its reporter and target by id, where the reporter met the target (a suggestion,
an inbox item or an introduction), a reason from a fixed set and a short text. The text stays
in the profiles service's store and reaches operators only; events and the audit trail carry
ids and the outcome, never the text.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from nnmatch.events import ReportOutcome
from nnmatch.profile import MEMBER_ID_PATTERN

REPORT_ID_PATTERN = r"^r-[0-9a-f]{32}$"
_REPORT_ID = re.compile(REPORT_ID_PATTERN)
MAX_REPORT_TEXT = 1000


class ReportReason(StrEnum):
    HARASSMENT = "harassment"
    SPAM = "spam"
    IMPERSONATION = "impersonation"
    INAPPROPRIATE = "inappropriate"
    OTHER = "other"


class ReportSource(StrEnum):
    """Where the reporter met the member they report."""

    SUGGESTION = "suggestion"
    INBOX = "inbox"
    INTRODUCTION = "introduction"


class ReportStatus(StrEnum):
    OPEN = "open"
    SUSPENDED = "suspended"
    DISMISSED = "dismissed"


class ReportRequest(BaseModel):
    """What a member sends to report another."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_id: str = Field(pattern=MEMBER_ID_PATTERN, description="The member reported.")
    source: ReportSource
    reason: ReportReason
    text: str = Field(
        default="", max_length=MAX_REPORT_TEXT, description="What happened, in a few words."
    )


class Report(BaseModel):
    """A report as stored and shown to operators."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_id: str = Field(pattern=REPORT_ID_PATTERN)
    reporter_id: str = Field(pattern=MEMBER_ID_PATTERN)
    target_id: str = Field(pattern=MEMBER_ID_PATTERN)
    source: ReportSource
    reason: ReportReason
    text: str = Field(default="", max_length=MAX_REPORT_TEXT)
    status: ReportStatus = ReportStatus.OPEN
    created_at: AwareDatetime
    resolved_at: AwareDatetime | None = None


class ReportPage(BaseModel):
    items: list[Report]
    next_cursor: str | None


class SuspensionRequest(BaseModel):
    """Optional: the report that led to the suspension (every open report about the member
    is resolved as suspended either way)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_id: str | None = Field(default=None, pattern=REPORT_ID_PATTERN)


class SuspensionState(BaseModel):
    member_id: str
    suspended: bool
    resolved_reports: list[str] = Field(
        default_factory=list, description="Reports this action closed."
    )


def new_report_id() -> str:
    return f"r-{uuid.uuid4().hex}"


def is_report_id(value: str) -> bool:
    return _REPORT_ID.fullmatch(value) is not None


def outcome_of(status: ReportStatus) -> ReportOutcome:
    return ReportOutcome.SUSPENDED if status is ReportStatus.SUSPENDED else ReportOutcome.DISMISSED


def outcome_key(report_id: str) -> str:
    """The `moderation.v1` key of a report's outcome (suspensions are keyed by member id)."""
    return f"report/{report_id}"
