"""Reports and suspensions, apart from HTTP: file, queue, dismiss, suspend, unsuspend.

Each decision is published (acks=all, `moderation.v1`) before the store records it, so a
decision the API acknowledged is on the topic; a retried call after a failure publishes again
under the same key, and notifications tells the reporter once per report. A suspension
re-publishes the member's profile as not discoverable (`service.published`): every list and
hub search drops them by the path a member's own visibility change takes, and unsuspending
re-publishes their own choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from nnmatch.events import MemberSuspended, MemberUnsuspended, ReportResolved
from nnmatch.publishing import EventPublisher
from nnmatch.reports import (
    Report,
    ReportRequest,
    ReportStatus,
    SuspensionState,
    new_report_id,
    outcome_key,
    outcome_of,
)
from nnmatch.topics import MODERATION
from nnmatch_profiles.report_store import ReportStore
from nnmatch_profiles.service import BrokerUnavailable, ProfileService


class ReportRefused(ValueError):
    """The report cannot be filed as asked; the message says why (a 4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Moderation:
    def __init__(
        self,
        store: ReportStore,
        profiles: ProfileService,
        publisher: EventPublisher,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._profiles = profiles
        self._publisher = publisher
        self._clock = clock

    async def file(self, reporter_id: str, request: ReportRequest) -> Report:
        if request.target_id == reporter_id:
            raise ReportRefused(422, "a member cannot report themself")
        if await self._profiles.get(request.target_id) is None:
            raise ReportRefused(404, f"no member {request.target_id!r} to report")
        report = Report(
            report_id=new_report_id(),
            reporter_id=reporter_id,
            target_id=request.target_id,
            source=request.source,
            reason=request.reason,
            text=request.text,
            created_at=self._clock(),
        )
        already = await self._store.file(report)
        if already is not None:
            raise ReportRefused(
                409, f"you already have an open report about this member ({already})"
            )
        return report

    async def open_count(self) -> int:
        return await self._store.open_count()

    async def open_reports(self, start: int, end: int) -> list[Report]:
        """Open reports in filing order, positions `start` to `end` (exclusive)."""
        return await self._store.open_page(start, end)

    async def get(self, report_id: str) -> Report | None:
        return await self._store.get(report_id)

    async def dismiss(self, report_id: str) -> Report:
        report = await self._open_report(report_id)
        [resolved] = await self._resolve([report], ReportStatus.DISMISSED)
        return resolved

    async def suspend(
        self, member_id: str, operator: str, report_id: str | None = None
    ) -> SuspensionState:
        """Suspend the member and resolve every open report about them as suspended."""
        if report_id is not None:
            named = await self._open_report(report_id)
            if named.target_id != member_id:
                raise ReportRefused(422, f"report {report_id} is not about {member_id!r}")
        if await self._profiles.get(member_id) is None:
            raise ReportRefused(404, f"no member {member_id!r}")
        event = MemberSuspended(
            producer=self._publisher.service, member_id=member_id, operator=operator
        )
        await self._publish([(member_id, event)])
        await self._store.set_suspended(member_id, True)
        await self._profiles.republish(member_id)
        resolved = await self._resolve(
            await self._store.open_about(member_id), ReportStatus.SUSPENDED
        )
        return SuspensionState(
            member_id=member_id,
            suspended=True,
            resolved_reports=[r.report_id for r in resolved],
        )

    async def unsuspend(self, member_id: str, operator: str) -> SuspensionState:
        if not await self._profiles.is_suspended(member_id):
            raise ReportRefused(404, f"member {member_id!r} is not suspended")
        event = MemberUnsuspended(
            producer=self._publisher.service, member_id=member_id, operator=operator
        )
        await self._publish([(member_id, event)])
        await self._store.set_suspended(member_id, False)
        await self._profiles.republish(member_id)
        return SuspensionState(member_id=member_id, suspended=False)

    async def forget(self, member_id: str) -> int:
        """An erasure: the reports the member filed or is named in go, texts included."""
        return await self._store.forget(member_id)

    async def _open_report(self, report_id: str) -> Report:
        report = await self._store.get(report_id)
        if report is None:
            raise ReportRefused(404, f"no report {report_id!r}")
        if report.status is not ReportStatus.OPEN:
            raise ReportRefused(409, f"report {report_id} was already decided: {report.status}")
        return report

    async def _resolve(self, reports: Sequence[Report], status: ReportStatus) -> list[Report]:
        if not reports:
            return []
        now = self._clock()
        resolved = [r.model_copy(update={"status": status, "resolved_at": now}) for r in reports]
        await self._publish(
            [
                (
                    outcome_key(r.report_id),
                    ReportResolved(
                        producer=self._publisher.service,
                        occurred_at=now,
                        report_id=r.report_id,
                        reporter_id=r.reporter_id,
                        target_id=r.target_id,
                        outcome=outcome_of(status),
                    ),
                )
                for r in resolved
            ]
        )
        return [r for r in resolved if await self._store.resolve(r)]

    async def _publish(
        self, items: Sequence[tuple[str, MemberSuspended | MemberUnsuspended | ReportResolved]]
    ) -> None:
        try:
            await self._publisher.publish_many(MODERATION, items)
        except Exception as exc:
            raise BrokerUnavailable(str(exc)) from exc
