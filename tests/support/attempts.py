"""Training attempts without a runner: a migrated database (SQLite or PostgreSQL), a local blob
store, and jobs claimed and re-claimed through the job store as runners claim them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select

from service.auth.store import ProjectStore
from service.blobstore import LocalBlobStore
from service.clock import SystemClock
from service.db.engine import SessionFactory, create_engine, create_session_factory
from service.db.migrate import upgrade_database_async
from service.db.tables import FileRow, FineTunedModelRow, JobRow, PendingBlobRow
from service.jobs.records import JobRecord
from service.jobs.state_machine import JobStatus
from service.jobs.store import JobStore
from service.models.pending_blobs import PendingBlobStore
from service.models.publisher import ModelPublisher
from tests.support.services import create_database, drop_database

# As the ctl worker stores a validated supervised job.
METHOD_JSON = json.dumps(
    {
        "type": "supervised",
        "supervised": {
            "hyperparameters": {"n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": 1.0}
        },
    }
)
HYPERPARAMETERS_JSON = json.dumps({"n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": 1.0})


@dataclass(frozen=True)
class AttemptWorld:
    """The stores a training attempt writes through, over one database and blob store."""

    sessions: SessionFactory
    blobs: LocalBlobStore
    blob_root: Path
    clock: SystemClock
    jobs: JobStore
    pending: PendingBlobStore
    publisher: ModelPublisher
    project_id: str
    organization_id: str

    async def queued_job(self, job_id: str) -> None:
        """A validated job waiting for a runner."""
        async with self.sessions.begin() as session:
            await session.execute(
                insert(JobRow).values(
                    id=job_id,
                    project_id=self.project_id,
                    organization_id=self.organization_id,
                    model="org/base",
                    training_file="file-x",
                    seed=7,
                    method_json=METHOD_JSON,
                    hyperparameters_json=HYPERPARAMETERS_JSON,
                    status=JobStatus.QUEUED.value,
                    attempt=0,
                    result_files_json="[]",
                    created_at=0,
                    created_us=0,
                )
            )

    async def claim(self, job_id: str) -> JobRecord:
        """Claim the queued job as a runner does (``queued → running``, the next attempt)."""
        job = await self.jobs.get_any(job_id)
        assert job is not None
        claimed = await self.jobs.transition(
            job_id,
            JobStatus.QUEUED,
            JobStatus.RUNNING,
            None,
            expected_attempt=job.attempt,
            attempt=job.attempt + 1,
            heartbeat_us=self.clock.now_us(),
        )
        assert claimed is not None
        return claimed

    async def requeue(self, job: JobRecord) -> None:
        """The reconciler's hand-back of a job whose runner stopped beating."""
        assert await self.jobs.transition(
            job.id, JobStatus.RUNNING, JobStatus.QUEUED, None, expected_attempt=job.attempt
        )

    async def cancel(self, job_id: str) -> None:
        """``POST /cancel`` as the api makes it."""
        assert await self.jobs.transition(
            job_id, JobStatus.RUNNING, JobStatus.CANCELLED, None, finished_at=0
        )

    def files_under(self, prefix: str) -> dict[str, bytes]:
        """Every stored object under ``prefix`` (or the object ``prefix`` names), by its key."""
        top = self.blob_root / prefix
        if top.is_file():
            return {prefix: top.read_bytes()}
        if not top.is_dir():
            return {}
        return {
            path.relative_to(self.blob_root).as_posix(): path.read_bytes()
            for path in sorted(top.rglob("*"))
            if path.is_file()
        }

    async def model_rows(self) -> list[tuple[str, str]]:
        """(id, blob_prefix) of every fine-tuned model."""
        async with self.sessions.read() as connection:
            rows = await connection.execute(
                select(FineTunedModelRow.id, FineTunedModelRow.blob_prefix)
            )
            return [(model_id, prefix) for model_id, prefix in rows]

    async def file_ids(self) -> list[str]:
        async with self.sessions.read() as connection:
            return [file_id for (file_id,) in await connection.execute(select(FileRow.id))]

    async def pending_targets(self) -> list[str]:
        async with self.sessions.read() as connection:
            rows = await connection.execute(select(PendingBlobRow.target))
            return sorted(target for (target,) in rows)

    async def event_messages(self, job_id: str) -> list[str]:
        page = await self.jobs.events_page(job_id, after_id=None, limit=100)
        return [event.message for event in reversed(page.items)]


@asynccontextmanager
async def attempt_world(database: str, tmp_path: Path) -> AsyncIterator[AttemptWorld]:
    """An ``AttemptWorld`` on a fresh ``"sqlite"`` or ``"postgres"`` database."""
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'attempts.db'}"
    else:
        url = await create_database()
    await upgrade_database_async(url)
    engine = create_engine(url)
    blob_root = tmp_path / "blobs"
    blob_root.mkdir()
    blobs = LocalBlobStore(blob_root)
    try:
        sessions = create_session_factory(engine)
        clock = SystemClock()
        projects = ProjectStore(sessions, clock)
        organization_id = await projects.ensure_organization("acme")
        project_id = await projects.ensure_project(organization_id, "p")
        pending = PendingBlobStore(sessions, clock)
        yield AttemptWorld(
            sessions=sessions,
            blobs=blobs,
            blob_root=blob_root,
            clock=clock,
            jobs=JobStore(sessions, clock),
            pending=pending,
            publisher=ModelPublisher(sessions, blobs, pending, clock),
            project_id=project_id,
            organization_id=organization_id,
        )
    finally:
        await blobs.close()
        await engine.dispose()
        if database == "postgres":
            await drop_database(url)


def write_adapter(directory: Path, weights: bytes) -> Path:
    """A minimal adapter directory (what the publisher uploads; its content is not checked)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (directory / "adapter_model.safetensors").write_bytes(weights)
    return directory
