"""Builds what the api serves evals and graders with, once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from service.clock import Clock
from service.db.engine import SessionFactory
from service.evals.callable_models import CallableModels
from service.evals.criteria import CriteriaParser
from service.evals.embeddings import EmbeddingsEndpoint, embeddings_endpoint
from service.evals.eval_store import EvalStore
from service.evals.grader_service import GraderService
from service.evals.model_calls import ModelCalls
from service.evals.output_item_store import OutputItemStore
from service.evals.run_service import RunService
from service.evals.run_store import RunStore
from service.evals.run_tasks import RunTasks
from service.evals.service import EvalService
from service.files.service import FileService
from service.models.access import ModelAccess
from service.models.registry import ModelRegistry
from service.queue.protocol import TaskQueue
from service.serving.gateway.inference import InferenceGateway
from service.settings import EvalSettings


@dataclass(frozen=True)
class EvalApi:
    """The api's eval services: evals, their runs and items, and graders on their own."""

    evals: EvalService
    runs: RunService
    graders: GraderService
    model_calls: ModelCalls
    embeddings: EmbeddingsEndpoint | None

    async def close(self) -> None:
        """Release the grader and embeddings endpoints' connections."""
        await self.model_calls.close()
        if self.embeddings is not None:
            await self.embeddings.close()


def build_eval_api(
    settings: EvalSettings,
    sessions: SessionFactory,
    queue: TaskQueue,
    clock: Clock,
    files: FileService,
    registry: ModelRegistry,
    access: ModelAccess,
    gateway: InferenceGateway,
) -> EvalApi:
    """Wire the eval services; nothing connects until first use."""
    evals, runs = EvalStore(sessions), RunStore(sessions)
    tasks = RunTasks(queue)
    models = CallableModels(registry, access, settings)
    model_calls = ModelCalls(gateway, settings)
    embeddings = embeddings_endpoint(settings)  # the cosine metric's; None: cosine is refused
    graders = GraderService(models, model_calls, embeddings)
    return EvalApi(
        evals=EvalService(evals, runs, CriteriaParser(models, graders.capabilities), tasks, clock),
        runs=RunService(evals, runs, OutputItemStore(sessions), files, models, tasks, clock),
        graders=graders,
        model_calls=model_calls,
        embeddings=embeddings,
    )
