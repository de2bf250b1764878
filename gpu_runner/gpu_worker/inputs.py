"""A training attempt's inputs: the ``TrainingSpec`` and the files it points at.

Downloads the job's training and validation files, the checkpoint the attempt resumes from and,
for a job that fine-tunes a fine-tuned model or checkpoint, that adapter; then reads the job's
hyperparameters into the spec the trainer runs, with the base's reference set (forgetting).
"""

from __future__ import annotations

import logging
from pathlib import Path

from service.blobstore import BlobStore
from service.blobstore.directories import download_directory, download_file
from service.blobstore.keys import file_key
from service.jobs.evaluation import JobEvaluation
from service.jobs.methods import MethodType
from service.jobs.records import CheckpointRecord, JobRecord
from service.jobs.trainer_contract import TrainingFailed, TrainingSpec
from service.models.access import ModelAccess
from service.models.adapters import ADAPTER_CONFIG_NAME
from service.models.naming import root_base_model
from service.models.registry import BaseModelSpec, ModelRegistry
from service.models.sources import ModelFiles

logger = logging.getLogger(__name__)


class TrainingInputs:
    """Assembles the ``TrainingSpec`` of one attempt in its work directory."""

    def __init__(
        self,
        blobs: BlobStore,
        registry: ModelRegistry,
        model_files: ModelFiles,
        access: ModelAccess,
    ) -> None:
        self._blobs = blobs
        self._registry = registry
        self._model_files = model_files
        self._access = access

    async def spec(
        self, job: JobRecord, workdir: Path, latest: CheckpointRecord | None
    ) -> TrainingSpec:
        """Download the attempt's inputs under ``workdir`` and describe the run."""
        base = self._registry.require(root_base_model(job.model))
        inputs = workdir / "inputs"
        inputs.mkdir()
        training = inputs / "training.jsonl"
        await download_file(self._blobs, file_key(job.project_id, job.training_file), training)
        validation = None
        if job.validation_file is not None:
            validation = inputs / "validation.jsonl"
            await download_file(
                self._blobs, file_key(job.project_id, job.validation_file), validation
            )
        resume_dir = None
        if latest is not None:
            resume_dir = workdir / "resume"
            await download_directory(self._blobs, latest.blob_prefix, resume_dir)
        hyper = job.method.hyperparameters.numbers()  # resolved when the job was validated
        evaluation = job.evaluation or JobEvaluation()
        early = evaluation.early_stopping
        return TrainingSpec(
            job_id=job.id,
            method=job.method.type,
            base_model_id=base.id,
            base_model_dir=await self._model_files.local_dir(base),
            max_seq_length=base.max_seq_length,
            chat_template=base.chat_template,
            lora_target_modules=base.lora_target_modules,
            max_lora_rank=base.max_lora_rank,
            training_file=training,
            validation_file=validation,
            n_epochs=hyper.n_epochs,
            batch_size=hyper.batch_size,
            learning_rate_multiplier=hyper.learning_rate_multiplier,
            beta=hyper.beta,
            seed=job.seed,
            workdir=workdir / "train",
            resume_from=resume_dir,
            resume_step=0 if latest is None else latest.step_number,
            initial_adapter_dir=await self._initial_adapter(job, workdir),
            # Answers are graded against chat examples' reference answers: supervised only.
            eval_graders=evaluation.grader_configs()
            if validation is not None and job.method.type is MethodType.SUPERVISED
            else (),
            early_stopping_patience=0 if early is None else early.patience,
            early_stopping_metric=evaluation.selection_metric,
            base_learning_rate=base.learning_rate,
            reference_set=_reference_set(base),
        )

    async def _initial_adapter(self, job: JobRecord, workdir: Path) -> Path | None:
        """The adapter of the fine-tuned model or checkpoint the job starts from, downloaded."""
        if not job.model.startswith("ft:"):
            return None
        # Asked again at every attempt: a model deleted or unshared since creation is gone.
        adapter = await self._access.adapter(job.project_id, job.model)
        if adapter is None:
            raise TrainingFailed(
                "model_not_found",
                f"The model '{job.model}' this job fine-tunes was deleted or is no longer "
                "shared with this project.",
            )
        target = workdir / "initial"
        prefix = adapter.blob_prefix.removesuffix("/") + "/"
        # A published model holds the adapter at its root, a checkpoint in adapter/.
        await download_directory(self._blobs, prefix, target)
        for directory in (target, target / "adapter"):
            if (directory / ADAPTER_CONFIG_NAME).is_file():
                return directory
        raise TrainingFailed(
            "invalid_model",
            f"The model '{job.model}' has no adapter to continue training from.",
        )


def _reference_set(base: BaseModelSpec) -> Path | None:
    """The base's reference set, a path on this worker's machine (the registry names it
    relative to itself, wherever the weights come from: path, hub or blobs); None, with a
    warning, when it is not there: a job is not failed for its forgetting eval."""
    if base.reference_set is None:
        return None
    if not base.reference_set.is_file():
        logger.warning(
            "reference set %s of %s is missing: forgetting is not measured",
            base.reference_set,
            base.id,
        )
        return None
    return base.reference_set
