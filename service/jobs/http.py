"""Routes under ``/v1/fine_tuning``."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody

from service.datasets.http_schemas import DatasetReportObject
from service.http.dependencies import CallerDep, PreflightDep
from service.jobs.schemas import (
    EstimateObject,
    JobCreate,
    JobProblemObject,
    ResolvedHyperparametersObject,
)


class FineTuningController(Controller):
    """Fine-tuning jobs and their extensions."""

    path = "/fine_tuning"
    tags = ("Fine-tuning",)

    @post("/estimate", status_code=200, summary="Estimate a job (extension)")
    async def estimate_job(
        self, caller: CallerDep, preflight: PreflightDep, data: JSONBody[JobCreate]
    ) -> EstimateObject:
        """Takes the body of ``POST /v1/fine_tuning/jobs`` and answers, without creating a job:
        the resolved hyperparameters, estimated trained tokens and duration, the dataset reports,
        and every problem that would make the job fail."""
        result = await preflight.check(caller, data)
        hyper = result.hyperparameters
        return EstimateObject(
            model=data.model,
            method=data.method_type,
            ok=result.ok,
            problems=[
                JobProblemObject(code=p.code, message=p.message, param=p.param)
                for p in result.problems
            ],
            hyperparameters=None
            if hyper is None
            else ResolvedHyperparametersObject(
                n_epochs=hyper.n_epochs,
                batch_size=hyper.batch_size,
                learning_rate_multiplier=hyper.learning_rate_multiplier,
                beta=hyper.beta,
            ),
            estimated_trained_tokens=result.estimated_trained_tokens,
            estimated_duration_seconds=result.estimated_duration_s,
            training_report=None
            if result.training_report is None
            else DatasetReportObject.of(data.training_file, result.training_report),
            validation_report=None
            if result.validation_report is None or data.validation_file is None
            else DatasetReportObject.of(data.validation_file, result.validation_report),
        )
