"""Eval rows ↔ eval records: the one place their JSON columns are encoded and decoded.

The api's stores and the runner's writes both go through these functions, so a counter or a
usage entry is spelled the same way on both sides.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import Row

from service.db.tables import EvalOutputItemRow, EvalRow, EvalRunRow
from service.evals.records import (
    CriterionResult,
    EvalRecord,
    ModelUsage,
    OutputItemRecord,
    OutputItemStatus,
    ResultCounts,
    RunRecord,
    RunStatus,
)

AnyRow = Row[Any]


def dump_json(value: object) -> str:
    """Compact JSON text for a column."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _optional_json(value: object | None) -> str | None:
    return None if value is None else dump_json(value)


def _load_optional(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- evals -----------------------------------------------------------------------------------


def eval_row(record: EvalRecord) -> EvalRow:
    """The row that stores ``record``."""
    return EvalRow(
        id=record.id,
        project_id=record.project_id,
        name=record.name,
        data_source_config=dump_json(record.data_source_config),
        testing_criteria=dump_json(list(record.testing_criteria)),
        metadata_json=_optional_json(record.metadata),
        created_at=record.created_at,
        created_us=record.created_us,
    )


def eval_record(row: EvalRow | AnyRow) -> EvalRecord:
    """The record a row of ``evals`` holds."""
    return EvalRecord(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        data_source_config=json.loads(row.data_source_config),
        testing_criteria=tuple(json.loads(row.testing_criteria)),
        metadata=_load_optional(row.metadata_json),
        created_at=row.created_at,
        created_us=row.created_us,
    )


# -- runs ------------------------------------------------------------------------------------


def encode_result_counts(counts: ResultCounts) -> str:
    """``result_counts`` as stored."""
    return dump_json(asdict(counts))


def encode_model_usage(usage: tuple[ModelUsage, ...]) -> str:
    """``per_model_usage`` as stored."""
    return dump_json([asdict(entry) for entry in usage])


def encode_criteria_results(results: tuple[CriterionResult, ...]) -> str:
    """``per_testing_criteria_results`` as stored."""
    return dump_json([asdict(entry) for entry in results])


def run_row(record: RunRecord) -> EvalRunRow:
    """The row that stores ``record``."""
    return EvalRunRow(
        id=record.id,
        eval_id=record.eval_id,
        project_id=record.project_id,
        name=record.name,
        status=record.status.value,
        model=record.model,
        data_source=dump_json(record.data_source),
        metadata_json=_optional_json(record.metadata),
        error=_optional_json(record.error),
        total_items=record.total_items,
        result_counts=encode_result_counts(record.result_counts),
        per_model_usage=encode_model_usage(record.per_model_usage),
        per_testing_criteria_results=encode_criteria_results(record.per_testing_criteria_results),
        attempts=record.attempts,
        heartbeat_at=record.heartbeat_at,
        created_at=record.created_at,
        created_us=record.created_us,
        finished_at=record.finished_at,
    )


def run_record(row: EvalRunRow | AnyRow) -> RunRecord:
    """The record a row of ``eval_runs`` holds."""
    return RunRecord(
        id=row.id,
        eval_id=row.eval_id,
        project_id=row.project_id,
        name=row.name,
        status=RunStatus(row.status),
        model=row.model,
        data_source=json.loads(row.data_source),
        metadata=_load_optional(row.metadata_json),
        error=_load_optional(row.error),
        total_items=row.total_items,
        result_counts=ResultCounts(**json.loads(row.result_counts)),
        per_model_usage=tuple(ModelUsage(**entry) for entry in json.loads(row.per_model_usage)),
        per_testing_criteria_results=tuple(
            CriterionResult(**entry) for entry in json.loads(row.per_testing_criteria_results)
        ),
        attempts=row.attempts,
        heartbeat_at=row.heartbeat_at,
        created_at=row.created_at,
        created_us=row.created_us,
        finished_at=row.finished_at,
    )


# -- output items ----------------------------------------------------------------------------


def output_item_row(record: OutputItemRecord) -> EvalOutputItemRow:
    """The row that stores ``record``."""
    return EvalOutputItemRow(
        id=record.id,
        run_id=record.run_id,
        eval_id=record.eval_id,
        project_id=record.project_id,
        datasource_item_id=record.datasource_item_id,
        datasource_item=dump_json(record.datasource_item),
        sample=dump_json(record.sample),
        results=dump_json(list(record.results)),
        status=record.status.value,
        created_at=record.created_at,
        created_us=record.created_us,
    )


def output_item_record(row: EvalOutputItemRow | AnyRow) -> OutputItemRecord:
    """The record a row of ``eval_output_items`` holds."""
    return OutputItemRecord(
        id=row.id,
        run_id=row.run_id,
        eval_id=row.eval_id,
        project_id=row.project_id,
        datasource_item_id=row.datasource_item_id,
        datasource_item=json.loads(row.datasource_item),
        sample=json.loads(row.sample),
        results=tuple(json.loads(row.results)),
        status=OutputItemStatus(row.status),
        created_at=row.created_at,
        created_us=row.created_us,
    )
