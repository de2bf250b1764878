"""The training loop of one process: steps, metrics, validation, checkpoints, the adapter.

Each optimizer step takes ``batch_size`` units (examples, or pairs for DPO) from the step plan,
deals them out over the ranks, packs each rank's share into rows, and accumulates gradients
over micro-batches of ``micro_batch_rows`` rows. Every micro-batch's loss is divided by the
step's global normaliser (trained tokens, or pairs), so the update does not depend on how the
step was split. Then: gradients summed over ranks, clipped, AdamW with the scheduled rate.

Between steps the loop checks whether it was asked to stop (SIGTERM to the process, via
``StopSignal``); if so it checkpoints, reports ``stopped`` and returns. Checkpoints are also
written at every epoch end but the last, and every ``checkpoint_every_steps`` if set.

With a validation file the run is also evaluated by generation (``generation_eval``): the base
before the first step, every checkpoint, and the final model; the checkpoint's and the final
step's metrics carry the graders' ``valid_<name>`` values. With early stopping on, every
evaluation (every ``eval_every`` steps) is a checkpoint too, and the run ends after the
evaluation that leaves its metric without improvement for ``patience`` evaluations in a row;
the model of that step is the adapter. The count travels in each checkpoint, so a paused or
recovered attempt stops where an uninterrupted one would.

With a reference set (the base's registry entry names one; any job, validation file or not) the
base before the first step and the final model answer a seeded sample of it, graded by the
default graders: the forgetting eval (``reference_base`` / ``reference_tuned`` reports).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
from peft import PeftModel

from gpu_runner.training.checkpoint import (
    RunPosition,
    load_checkpoint,
    read_loop_state,
    read_position,
    save_adapter,
    save_checkpoint,
)
from gpu_runner.training.config import RunConfig
from gpu_runner.training.data import StepPlan, TrainingData, TrainingUnit, load_training_data
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.dpo import DpoObjective
from gpu_runner.training.errors import OutOfMemoryError, TrainingDivergedError
from gpu_runner.training.generation_eval import GenerationEval
from gpu_runner.training.messages import (
    Channel,
    CheckpointWritten,
    Evaluated,
    Finished,
    Metrics,
    Started,
    Stopped,
)
from gpu_runner.training.model import (
    Placement,
    choose_placement,
    load_lora_model,
    trainable_parameters,
)
from gpu_runner.training.objectives import Objective, SupervisedObjective
from gpu_runner.training.packing import Segment, collate, micro_batches, plan_rows
from gpu_runner.training.probes import record_probes
from gpu_runner.training.schedule import learning_rate_at, warmup_steps
from service.datasets.for_gpu_runner import ChatTokenizer
from service.jobs.evaluation import DEFAULT_EVAL_GRADERS, improves
from service.jobs.trainer_contract import EvaluationPhase

logger = logging.getLogger(__name__)

EVALUATIONS_PER_RUN = 10  # valid_loss this many times per run unless eval_every_steps is set
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class StopSignal(Protocol):
    """Whether the process was asked to checkpoint and stop."""

    def is_set(self) -> bool:
        """True once a stop was requested."""
        ...


def make_objective(config: RunConfig) -> Objective:
    """The objective of ``config.method``."""
    return DpoObjective(config.beta) if config.is_dpo else SupervisedObjective()


def accumulate_gradients(
    model: PeftModel,
    objective: Objective,
    units: Sequence[Sequence[Segment]],
    normalizer: float,
    *,
    row_tokens: int,
    packing: bool,
    rows_per_micro_batch: int,
    placement: Placement,
    pad_token_id: int,
) -> torch.Tensor:
    """Backward over ``units`` in micro-batches; returns their summed stats (float64)."""
    stats = torch.zeros(len(objective.stat_names), dtype=torch.float64, device=placement.device)
    rows = plan_rows(units, row_tokens, packing=packing)
    for group in micro_batches(rows, rows_per_micro_batch):
        batch = collate(group, pad_token_id).to(placement.device)
        with _autocast(placement):
            loss, batch_stats = objective.loss(model, batch, placement, normalizer)
        loss.backward()  # type: ignore[no-untyped-call]
        stats += batch_stats
    return stats


def evaluate(
    model: PeftModel,
    objective: Objective,
    units: Sequence[Sequence[Segment]],
    *,
    row_tokens: int,
    packing: bool,
    rows_per_micro_batch: int,
    placement: Placement,
    pad_token_id: int,
) -> torch.Tensor:
    """Summed stats of ``units`` without gradients or dropout."""
    stats = torch.zeros(len(objective.stat_names), dtype=torch.float64, device=placement.device)
    rows = plan_rows(units, row_tokens, packing=packing)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for group in micro_batches(rows, rows_per_micro_batch):
                batch = collate(group, pad_token_id).to(placement.device)
                with _autocast(placement):
                    _, batch_stats = objective.loss(model, batch, placement, 1.0)
                stats += batch_stats
    finally:
        model.train(was_training)
    return stats


class TrainingRun:
    """One process's part of a run, from loading the data to the adapter."""

    def __init__(self, config: RunConfig, channel: Channel, stop: StopSignal, ranks: Ranks):
        self.config = config
        self.channel = channel
        self.stop = stop
        self.ranks = ranks
        self.placement = choose_placement(config, ranks.local_rank)
        self.objective = make_objective(config)
        tokenizer = ChatTokenizer.from_model_dir(
            config.base_model_dir,
            max_seq_length=config.max_seq_length,
            chat_template=config.chat_template,
        )
        self.pad_token_id = tokenizer.eos_token_id or 0
        self.train_data = load_training_data(config.training_file, tokenizer, config.method)
        self.valid_data: TrainingData | None = None
        self.generation_eval: GenerationEval | None = None
        if config.validation_file is not None:
            self.valid_data = load_training_data(config.validation_file, tokenizer, config.method)
            if config.eval_graders:
                self.generation_eval = GenerationEval.load(
                    config.validation_file,
                    tokenizer,
                    config.base_model_dir,
                    grader_configs=config.eval_graders,
                    n_examples=config.eval_examples,
                    max_new_tokens=config.eval_max_new_tokens,
                    seed=config.seed,
                )
        self.reference_eval: GenerationEval | None = None
        if config.reference_set is not None:
            self.reference_eval = GenerationEval.load(
                config.reference_set,
                tokenizer,
                config.base_model_dir,
                # The job's graders are written for its own data; the reference set's answers
                # are graded by the defaults.
                grader_configs=DEFAULT_EVAL_GRADERS,
                n_examples=config.eval_examples,
                max_new_tokens=config.eval_max_new_tokens,
                seed=config.seed,
                metric_prefix="",
            )
        self.eval_seconds = 0.0
        self.early_stopping = (
            _EarlyStopping(config.early_stopping_patience, config.early_stopping_metric)
            if config.early_stopping_patience > 0 and self.valid_data is not None
            else None
        )
        self.plan = StepPlan(
            len(self.train_data.units), config.batch_size, config.n_epochs, config.seed
        )
        self.model = load_lora_model(config, self.placement)
        self.model.train()  # from_pretrained leaves eval mode: no dropout, no checkpointing
        torch.manual_seed(config.seed * 7919 + ranks.rank)  # each rank's dropout stream
        self.parameters = trainable_parameters(self.model)
        self.optimizer = torch.optim.AdamW(
            self.parameters,
            lr=config.learning_rate,
            betas=ADAM_BETAS,
            eps=ADAM_EPS,
            weight_decay=config.weight_decay,
        )
        self.warmup = warmup_steps(self.plan.total_steps, config.warmup_ratio)
        self.eval_every = config.eval_every_steps or max(
            1, round(self.plan.total_steps / EVALUATIONS_PER_RUN)
        )

    @property
    def row_tokens(self) -> int:
        """Capacity of a packed row."""
        return self.config.max_seq_length * self.objective.unit_width

    def run(self) -> None:
        """Train from the start or the resume checkpoint to the end, or until asked to stop."""
        total = self.plan.total_steps
        start = self._resume()
        last_saved = start
        self.channel.send(Started(total, len(self.train_data.units)))
        if start == 0 and self.generation_eval is not None:  # a resumed run reported it before
            with _out_of_memory_at(0):
                base = self._generation_metrics()
            self.channel.send(Evaluated(EvaluationPhase.BASE.value, 0, base, self.eval_seconds))
        if start == 0 and self.reference_eval is not None:
            with _out_of_memory_at(0):
                reference = self._generation_metrics(self.reference_eval)
            self.channel.send(
                Evaluated(EvaluationPhase.REFERENCE_BASE.value, 0, reference, self.eval_seconds)
            )
        window = _Window(len(self.objective.stat_names), self.placement.device)
        step_metrics: dict[str, float] = {}
        tuned: dict[str, float] = {}
        end = total
        for step in range(start, total):
            if self._stop_requested():
                self._stop(step, last_saved, step_metrics)
                return
            done = step + 1
            with _out_of_memory_at(done):
                stats, learning_rate = self._train_step(step)
            window.add(stats)
            step_metrics = self.objective.metrics(stats.tolist(), "train_")
            evaluation_due = done % self.eval_every == 0 or done == total
            checkpoint_due = self._checkpoint_due(done)
            values: dict[str, float] = {}
            if done % self.config.metrics_every_steps == 0 or evaluation_due or checkpoint_due:
                values = self._report_values(window, learning_rate)
                with _out_of_memory_at(done):
                    values |= self._validation_metrics(done, force=checkpoint_due)
                    if self.generation_eval is not None and (checkpoint_due or done == total):
                        tuned = self._generation_metrics()
                        values |= tuned
                self.channel.send(Metrics(done, total, values))
                window = _Window(len(self.objective.stat_names), self.placement.device)
            # Counted before the checkpoint is written, so a resume from it continues the count.
            stops_early = done < total and evaluation_due and self._stops_early(values)
            if checkpoint_due:
                self._checkpoint(done, step_metrics | _validation_values(values))
                last_saved = done
            if stops_early:
                end = done
                break
        if self._stop_requested():
            self._stop(end, last_saved, step_metrics)
            return
        if self.generation_eval is not None and tuned:
            self.channel.send(Evaluated(EvaluationPhase.TUNED.value, end, tuned, self.eval_seconds))
        if self.reference_eval is not None:
            with _out_of_memory_at(end):
                reference = self._generation_metrics(self.reference_eval)
            self.channel.send(
                Evaluated(EvaluationPhase.REFERENCE_TUNED.value, end, reference, self.eval_seconds)
            )
        probes: dict[str, Any] | None = None
        if self.ranks.is_main:
            save_adapter(self.config.adapter_dir, self.model)
            probes = self._parity_probes()
        self.ranks.barrier()
        self.channel.send(
            Finished(
                str(self.config.adapter_dir),
                self.trained_tokens(end),
                self.plan.total_steps,
                stopped_early_at=end if end < total else None,
                parity_probes=probes,
            )
        )

    def _parity_probes(self) -> dict[str, Any] | None:
        """The probes' references under the trained adapter (``training.probes``).

        None for a 4-bit base: serving runs the base in full precision, so the model as trained
        (NF4) and the model as served legitimately differ by more than any useful tolerance.
        """
        if self.placement.quantized:
            logger.info("no parity probes for a 4-bit base")
            return None
        with _autocast(self.placement):
            return record_probes(self.model, self.config, self.placement).to_json()

    def trained_tokens(self, steps: int) -> int:
        """Tokens of every used example (prompt included), once per epoch: what OpenAI bills;
        a run that stopped early after ``steps`` steps bills that share of it."""
        full = self.train_data.n_tokens * self.config.n_epochs
        return full if steps >= self.plan.total_steps else full * steps // self.plan.total_steps

    # -- steps ---------------------------------------------------------------------------------

    def _train_step(self, step: int) -> tuple[torch.Tensor, float]:
        indices = self.plan.units_for_step(step)
        units = self.train_data.units
        normalizer = self.objective.normalizer([units[i] for i in indices])
        mine = [self.objective.segments(i, units[i]) for i in self.ranks.share(indices)]
        stats = accumulate_gradients(
            self.model,
            self.objective,
            mine,
            normalizer,
            row_tokens=self.row_tokens,
            packing=self.config.packing,
            rows_per_micro_batch=self.config.micro_batch_rows,
            placement=self.placement,
            pad_token_id=self.pad_token_id,
        )
        stats = self.ranks.sum_(stats)
        if not math.isfinite(float(stats[0])):
            raise TrainingDivergedError(step + 1)
        self.ranks.sum_gradients(self.parameters)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.config.max_grad_norm)
        if not math.isfinite(float(grad_norm)):
            raise TrainingDivergedError(step + 1, "gradient norm")
        learning_rate = learning_rate_at(
            step,
            peak=self.config.learning_rate,
            total_steps=self.plan.total_steps,
            warmup=self.warmup,
            schedule=self.config.lr_schedule,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return stats, learning_rate

    def _validation_metrics(self, done: int, *, force: bool = False) -> dict[str, float]:
        if self.valid_data is None:
            return {}
        values: dict[str, float] = {}
        units = self.valid_data.units
        if force or done % self.eval_every == 0 or done == self.plan.total_steps:
            batch = range(min(len(units), self.config.eval_batch_examples))
            values |= self.objective.metrics(self._evaluate(units, batch), "valid_")
        if done == self.plan.total_steps:
            every = range(len(units))
            values |= self.objective.metrics(self._evaluate(units, every), "full_valid_")
        return values

    def _stops_early(self, values: dict[str, float]) -> bool:
        return self.early_stopping is not None and self.early_stopping.stops_after(values)

    def _generation_metrics(
        self, generation_eval: GenerationEval | None = None
    ) -> dict[str, float]:
        """``generation_eval``'s metrics (the validation one by default), timed."""
        generation_eval = generation_eval or self.generation_eval
        if generation_eval is None:
            return {}
        started = time.perf_counter()
        with _autocast(self.placement):
            values = generation_eval.metrics(self.model, self.placement, self.ranks)
        self.eval_seconds += time.perf_counter() - started
        return values

    def _evaluate(self, units: Sequence[TrainingUnit], indices: Sequence[int]) -> list[float]:
        mine = [self.objective.segments(i, units[i]) for i in self.ranks.share(indices)]
        stats = evaluate(
            self.model,
            self.objective,
            mine,
            row_tokens=self.row_tokens,
            packing=self.config.packing,
            rows_per_micro_batch=self.config.micro_batch_rows,
            placement=self.placement,
            pad_token_id=self.pad_token_id,
        )
        return [float(value) for value in self.ranks.sum_(stats).tolist()]

    def _report_values(self, window: _Window, learning_rate: float) -> dict[str, float]:
        stats = window.stats.tolist()
        tokens = stats[self.objective.stat_names.index("tokens")]
        return self.objective.metrics(stats, "train_") | {
            "learning_rate": learning_rate,
            "tokens_per_second": tokens / max(window.elapsed_s(), 1e-9),
        }

    # -- checkpoints and stopping --------------------------------------------------------------

    def _position(self, step: int) -> RunPosition:
        return RunPosition(
            step=step,
            total_steps=self.plan.total_steps,
            seed=self.config.seed,
            n_units=len(self.train_data.units),
            data_fingerprint=self.train_data.fingerprint,
            world_size=self.ranks.world_size,
        )

    def _resume(self) -> int:
        if self.config.resume_from is None:
            return 0
        read_position(self.config.resume_from).check_resumable_by(self._position(0))
        position = load_checkpoint(self.config.resume_from, self.model, self.optimizer, self.ranks)
        if self.config.resume_step not in (0, position.step):
            logger.warning(
                "asked to resume at step %d; the checkpoint is of step %d",
                self.config.resume_step,
                position.step,
            )
        if self.early_stopping is not None:
            saved = read_loop_state(self.config.resume_from).get("early_stopping")
            self.early_stopping.restore(saved)
        logger.info("resuming at step %d of %d", position.step, position.total_steps)
        return position.step

    def _checkpoint_due(self, done: int) -> bool:
        if done >= self.plan.total_steps:
            return False  # the adapter itself is the last output
        every = self.config.checkpoint_every_steps
        if self.early_stopping is not None and done % self.eval_every == 0:
            return True  # each evaluation may turn out the best: keep it callable
        return self.plan.is_epoch_end(done) or (every > 0 and done % every == 0)

    def _checkpoint(self, step: int, metrics: dict[str, float]) -> None:
        directory = self.config.checkpoints_dir / f"step-{step}"
        loop_state = (
            {} if self.early_stopping is None else {"early_stopping": self.early_stopping.state()}
        )
        save_checkpoint(
            directory,
            self.model,
            self.optimizer,
            self._position(step),
            metrics,
            self.ranks,
            loop_state,
        )
        self.channel.send(CheckpointWritten(step, str(directory), metrics))

    def _stop_requested(self) -> bool:
        return self.ranks.any(self.stop.is_set(), self.placement.device)

    def _stop(self, step: int, last_saved: int, metrics: dict[str, float]) -> None:
        if step > last_saved:
            self._checkpoint(step, metrics)
        self.channel.send(Stopped(step))


class _EarlyStopping:
    """Counts the evaluations since ``metric`` last improved."""

    def __init__(self, patience: int, metric: str) -> None:
        self.patience = patience
        self.metric = metric
        self.best: float | None = None
        self.since_best = 0

    def stops_after(self, values: dict[str, float]) -> bool:
        """Take one evaluation's ``values``; True once ``patience`` passed without improvement."""
        value = values.get(self.metric)
        if value is None:
            return False
        if improves(self.metric, value, self.best):
            self.best, self.since_best = value, 0
        else:
            self.since_best += 1
        return self.since_best >= self.patience

    def state(self) -> dict[str, Any]:
        """The count as JSON, for a checkpoint."""
        return {"metric": self.metric, "best": self.best, "since_best": self.since_best}

    def restore(self, state: dict[str, Any] | None) -> None:
        """Continue the count a checkpoint saved; one of another metric (or none) starts anew."""
        if state is None or state.get("metric") != self.metric:
            return
        self.best = state["best"]
        self.since_best = int(state["since_best"])


def _validation_values(values: dict[str, float]) -> dict[str, float]:
    """The validation metrics among a report's values (a checkpoint's metrics add them)."""
    return {
        key: value for key, value in values.items() if key.startswith(("valid_", "full_valid_"))
    }


class _Window:
    """Stats summed since the last report, and the time they took."""

    def __init__(self, n_stats: int, device: torch.device) -> None:
        self.stats = torch.zeros(n_stats, dtype=torch.float64, device=device)
        self._started = time.perf_counter()

    def add(self, stats: torch.Tensor) -> None:
        self.stats += stats

    def elapsed_s(self) -> float:
        return time.perf_counter() - self._started


@contextlib.contextmanager
def _out_of_memory_at(step: int) -> Iterator[None]:
    try:
        yield
    except torch.cuda.OutOfMemoryError:
        raise OutOfMemoryError(step) from None


def _autocast(placement: Placement) -> contextlib.AbstractContextManager[object]:
    if placement.device.type == "cuda":
        return torch.autocast("cuda", dtype=placement.dtype)
    return contextlib.nullcontext()
