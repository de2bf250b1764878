"""Every queue, task and Redis key name ftapi uses with arq, built by functions."""

from __future__ import annotations

from enum import StrEnum


class QueueName(StrEnum):
    """The two queues: short control work, and long training work (one job per GPU set)."""

    CTL = "ftapi:ctl"
    GPU = "ftapi:gpu"


class TaskName(StrEnum):
    """arq function names."""

    VALIDATE_FILE = "validate_file"
    VALIDATE_JOB = "validate_job"
    TRAIN = "train"
    DELIVER_WEBHOOK = "deliver_webhook"
    RECONCILE = "reconcile"
    SWEEP = "sweep"
    REAP_MODEL_BLOBS = "reap_model_blobs"
    RUN_EVAL = "run_eval"
    EXPORT_MERGED = "export_merged"


def validate_file_key(file_id: str) -> str:
    """arq job id of a file's content validation (one at a time per file)."""
    return f"validate_file:{file_id}"


def validate_job_key(job_id: str) -> str:
    """arq job id of a job's validation (a retried create or a reconciler pass dedupes)."""
    return f"validate_job:{job_id}"


def train_key(job_id: str, attempt: int) -> str:
    """arq job id of one training attempt (a new attempt after a requeue gets a new id)."""
    return f"train:{job_id}:{attempt}"


def deliver_webhook_key(delivery_id: str, attempt: int) -> str:
    """arq job id of one webhook delivery attempt."""
    return f"deliver_webhook:{delivery_id}:{attempt}"


def run_eval_key(run_id: str, attempt: int) -> str:
    """arq job id of one start of an eval run (a restarted run gets a new id)."""
    return f"run_eval:{run_id}:{attempt}"


def health_check_key(queue: QueueName, worker_id: str) -> str:
    """Where one worker process of ``queue`` writes its arq health line (one key per worker, so
    a hung worker's probe fails even while another worker of its queue is alive)."""
    return f"{queue.value}:health-check:{worker_id}"


# A hash of task name -> how many times the task was given up (service/queue/task_policy.py).
TASKS_GIVEN_UP_KEY = "ftapi:tasks:given_up"

# arq's own key prefixes (arq/constants.py); the reconciler reads them to tell what is queued.
ARQ_JOB_KEY_PREFIX = "arq:job:"
ARQ_IN_PROGRESS_KEY_PREFIX = "arq:in-progress:"
