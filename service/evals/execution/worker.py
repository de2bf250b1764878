"""What a ctl worker builds for eval runs: the runner its ``run_eval`` task calls, the reconciler
its reconcile cron calls, and the model clients they share (closed at shutdown)."""

from __future__ import annotations

from dataclasses import dataclass

from service.auth.store import ProjectStore
from service.clock import Clock
from service.db.engine import SessionFactory
from service.evals.embeddings import EmbeddingsEndpoint, embeddings_endpoint
from service.evals.execution.reconciler import EvalRunReconciler
from service.evals.execution.runner import EvalRunner
from service.evals.execution.work_store import RunWorkStore
from service.evals.model_calls import ModelCalls
from service.files.service import FileService
from service.queue.protocol import TaskQueue
from service.serving.gateway.inference import InferenceGateway
from service.settings import EvalSettings


@dataclass(frozen=True)
class EvalWorker:
    """The ctl worker's eval parts."""

    runner: EvalRunner
    reconciler: EvalRunReconciler
    model_calls: ModelCalls
    embeddings: EmbeddingsEndpoint | None

    @classmethod
    def build(
        cls,
        settings: EvalSettings,
        *,
        sessions: SessionFactory,
        projects: ProjectStore,
        files: FileService,
        queue: TaskQueue,
        clock: Clock,
        gateway: InferenceGateway,
    ) -> EvalWorker:
        """Wire them; nothing connects until first use (the gateway stays its builder's)."""
        model_calls = ModelCalls(gateway, settings)
        embeddings = embeddings_endpoint(settings)
        return cls(
            runner=EvalRunner(
                RunWorkStore(sessions),
                projects,
                files,
                model_calls,
                queue,
                clock,
                settings,
                embeddings=embeddings,
            ),
            reconciler=EvalRunReconciler(
                sessions,
                queue,
                clock,
                stale_heartbeat_s=settings.stale_heartbeat_s,
                max_attempts=settings.max_attempts,
            ),
            model_calls=model_calls,
            embeddings=embeddings,
        )

    async def close(self) -> None:
        """Close the grader and embedding endpoints' connections."""
        await self.model_calls.close()
        if self.embeddings is not None:
            await self.embeddings.close()
