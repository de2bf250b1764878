"""Stored dataset reports, one per (file, model)."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.datasets.reports.dataset_report import DatasetReport
from service.db.engine import SessionFactory
from service.db.tables import DatasetReportRow


class DatasetReportStore:
    """Reads and writes ``dataset_reports`` rows (callers have already checked file ownership)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def get(self, file_id: str, model_id: str) -> DatasetReport | None:
        """The stored report, or None."""
        async with self._sessions.read() as connection:
            raw = await connection.scalar(
                select(DatasetReportRow.report_json).where(
                    DatasetReportRow.file_id == file_id, DatasetReportRow.model_id == model_id
                )
            )
            return None if raw is None else DatasetReport.from_json(json.loads(raw))

    async def put(self, file_id: str, report: DatasetReport, created_at: int) -> None:
        """Store a report, unless one for the same pair was stored meanwhile.

        Validating several jobs on one file computes its report concurrently. ``merge`` reads
        before it inserts, so two writers can both insert; the loser's unique-key error means
        the same report (a function of the file and the model) is already there.
        """
        try:
            async with self._sessions.begin() as session:
                await session.merge(
                    DatasetReportRow(
                        file_id=file_id,
                        model_id=report.model,
                        report_json=json.dumps(report.to_json()),
                        created_at=created_at,
                    )
                )
        except IntegrityError:
            return
