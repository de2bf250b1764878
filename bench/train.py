"""Training throughput: ftapi's trainer against transformers' ``Trainer`` + peft with padding.

Same model config, same variable-length chat examples (tokenized once, by ``ChatTokenizer``),
same LoRA settings, batch size, learning rate and number of steps. Prints, for both: tokens/s
of all real tokens and of trained tokens, the padding efficiency (real tokens / tokens the
forward passes computed), and the ratio ftapi / baseline, as the median over ``--repeats``
runs of each. On the CPU it also prints the ratio of CPU seconds (robust to a busy machine;
pin ``--threads``). On CUDA it prints MFU instead (``gpu_runner.training.flops``: 6 x matmul
parameters x real tokens / time / ``--peak-tflops``, 989 for an H100's dense bf16).

    python bench/train.py                                   # CPU: a small Llama, 12 steps
    python bench/train.py --threads 1 --repeats 3           # CPU, steadier on a shared box
    python bench/train.py --attention sdpa                  # ftapi with the dense packed mask
    python bench/train.py --device cuda --config 1b --examples 512 --max-seq-length 2048 \
        --micro-batch-rows 4                                # GPU only: ~1B Llama, bf16, MFU
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_runner.demo_model import build_tiny_llama
from gpu_runner.training.config import AttentionKind, DeviceKind, LoraTrainerSettings, RunConfig
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.flops import H100_BF16_DENSE_TFLOPS, model_flops_utilization
from gpu_runner.training.loop import TrainingRun
from gpu_runner.training.packing import micro_batches, plan_rows
from service.jobs.methods import MethodType
from service.jobs.trainer_contract import TrainingSpec

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CONFIGS = {  # name -> build_tiny_llama size arguments (the tokenizer stays the tiny one)
    "small": {"hidden_size": 256, "intermediate_size": 688, "layers": 4, "heads": 8, "kv_heads": 4},
    # TinyLlama-1.1B's shape, random init. CUDA only: in fp32 on a CPU it would take hours.
    "1b": {
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "layers": 22,
        "heads": 32,
        "kv_heads": 4,
    },
}
CUDA_ONLY_CONFIGS = frozenset({"1b"})
WORDS = "the model learns a task from a few examples and answers in plain words".split()  # noqa: SIM905


def chat_examples(n: int, max_words: int, seed: int) -> bytes:
    """Chat examples whose lengths vary log-uniformly, like real fine-tuning sets."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        n_prompt = int(2 ** rng.uniform(2, max(3, max_words.bit_length() - 1)))
        n_answer = int(2 ** rng.uniform(2, max(3, max_words.bit_length() - 1)))
        prompt = " ".join(rng.choice(WORDS) for _ in range(n_prompt))
        answer = " ".join(rng.choice(WORDS) for _ in range(n_answer))
        messages = [
            {"role": "user", "content": f"{i}: {prompt}"},
            {"role": "assistant", "content": answer},
        ]
        lines.append(json.dumps({"messages": messages}))
    return ("\n".join(lines) + "\n").encode()


def ftapi_run(config: RunConfig, steps: int) -> dict[str, float]:
    """Train ``steps`` steps with ftapi's loop; count real, trained and computed tokens."""
    run = TrainingRun(config, _Null(), _Null(), Ranks())
    run.plan.total_steps = steps
    real = trained = computed = 0
    for step in range(steps):
        units = [run.train_data.units[i] for i in run.plan.units_for_step(step)]
        segments = [run.objective.segments(i, unit) for i, unit in enumerate(units)]
        rows = plan_rows(segments, run.row_tokens, packing=config.packing)
        for group in micro_batches(rows, config.micro_batch_rows):
            computed += len(group) * max(sum(len(s.input_ids) for s in row) for row in group)
        real += sum(unit.n_tokens for unit in units)
        trained += sum(unit.n_targets for unit in units)
    with _Clock() as clock:
        run.run()
    return clock.times() | {"real": real, "trained": trained, "computed": computed}


def baseline_run(config: RunConfig, run: TrainingRun, steps: int) -> dict[str, float]:
    """The same steps with transformers' Trainer, peft, and padding to the longest in a batch."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    counts = {"real": 0, "trained": 0, "computed": 0}
    examples = [
        {"input_ids": list(u.sequences[0].input_ids), "trained": list(u.sequences[0].trained)}
        for u in run.train_data.units
    ]

    def collate(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        length = max(len(e["input_ids"]) for e in batch)
        ids = torch.zeros(len(batch), length, dtype=torch.long)
        labels = torch.full((len(batch), length), -100, dtype=torch.long)
        mask = torch.zeros(len(batch), length, dtype=torch.long)
        for b, e in enumerate(batch):
            n = len(e["input_ids"])
            ids[b, :n] = torch.tensor(e["input_ids"])
            labels[b, :n] = torch.where(
                torch.tensor(e["trained"], dtype=torch.bool), ids[b, :n], -100
            )
            mask[b, :n] = 1
            counts["real"] += n
            counts["trained"] += sum(e["trained"][1:])
        counts["computed"] += ids.numel()
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    on_gpu = run.placement.device.type == "cuda"
    model = AutoModelForCausalLM.from_pretrained(
        config.base_model_dir, dtype=run.placement.dtype, attn_implementation="sdpa"
    )
    model = get_peft_model(
        model,
        LoraConfig(
            r=config.lora_rank,
            lora_alpha=int(config.lora_alpha),
            lora_dropout=config.lora_dropout,
            target_modules=list(config.lora_target_modules),
            task_type="CAUSAL_LM",
        ),
    )
    micro = max(1, config.batch_size // 4)
    arguments = TrainingArguments(
        output_dir=str(config.workdir / "baseline"),
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=config.batch_size // micro,
        learning_rate=config.learning_rate,
        max_steps=steps,
        lr_scheduler_type="linear",
        bf16=on_gpu,
        use_cpu=not on_gpu,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        logging_strategy="no",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        seed=config.seed,
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=examples, data_collator=collate)
    with _Clock() as clock:
        trainer.train()
    return clock.times() | counts


def matmul_parameters(run: TrainingRun) -> int:
    """The base model's weights that take part in matmuls (input embeddings are lookups)."""
    model: Any = run.model.get_base_model()
    frozen = sum(p.numel() for name, p in model.named_parameters() if "lora_" not in name)
    embeddings = model.get_input_embeddings().weight
    tied = embeddings is model.get_output_embeddings().weight
    return frozen - (0 if tied else embeddings.numel())


def median_result(results: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over repeated runs (token counts are the same in every run)."""
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def report(name: str, result: dict[str, float], parameters: int, peak_tflops: float | None) -> None:
    """One line of figures for one trainer."""
    seconds = result["seconds"]
    line = (
        f"{name:>9}: {result['real'] / seconds:10.0f} tokens/s, "
        f"{result['trained'] / seconds:10.0f} trained tokens/s, "
        f"padding efficiency {result['real'] / result['computed']:6.1%}, "
        f"{seconds:7.2f} s, {result['cpu_seconds']:7.2f} CPU s"
    )
    if peak_tflops:
        mfu = model_flops_utilization(parameters, int(result["real"]), seconds, peak_tflops)
        line += f", MFU {mfu:5.1%}"
    print(line, flush=True)


class _Clock:
    """Wall and process-CPU seconds of a block, with the GPU's queue drained at both ends."""

    def __enter__(self) -> _Clock:
        _sync()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        _sync()
        self._wall = time.perf_counter() - self._wall
        self._cpu = time.process_time() - self._cpu

    def times(self) -> dict[str, float]:
        return {"seconds": self._wall, "cpu_seconds": self._cpu}


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--device", choices=[d.value for d in DeviceKind], default="auto")
    parser.add_argument(
        "--attention", choices=[a.value for a in AttentionKind], default="auto", help="ftapi's"
    )
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--micro-batch-rows", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each; medians reported")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0: default")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=H100_BF16_DENSE_TFLOPS,
        help="the accelerator's dense bf16 peak, for MFU (CUDA only); default: an H100's",
    )
    args = parser.parse_args()
    on_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.config in CUDA_ONLY_CONFIGS and not on_cuda:
        parser.error(f"--config {args.config} needs --device cuda (a CUDA GPU)")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="ftapi-bench-train-") as scratch:
        root = Path(scratch)
        model_dir = build_tiny_llama(
            root / "model", max_position_embeddings=args.max_seq_length, **CONFIGS[args.config]
        )
        data = root / "train.jsonl"
        data.write_bytes(chat_examples(args.examples, args.max_seq_length // 6, seed=0))
        spec = TrainingSpec(
            job_id="ftjob-bench",
            method=MethodType.SUPERVISED,
            base_model_id="bench",
            base_model_dir=model_dir,
            max_seq_length=args.max_seq_length,
            chat_template=None,
            lora_target_modules=ALL_LINEAR,
            max_lora_rank=64,
            training_file=data,
            validation_file=None,
            n_epochs=1,
            batch_size=args.batch_size,
            learning_rate_multiplier=1.0,
            beta=None,
            seed=0,
            workdir=root / "work",
        )
        settings = LoraTrainerSettings(
            micro_batch_rows=args.micro_batch_rows,
            lora_dropout=0.0,
            device=args.device,
            attention=args.attention,
        )
        config = RunConfig.from_spec(spec, settings)
        reference = TrainingRun(config, _Null(), _Null(), Ranks())
        parameters = matmul_parameters(reference)
        device = reference.placement.device
        print(
            f"config {args.config} ({parameters / 1e6:.1f} M matmul parameters) on {device}, "
            f"{torch.get_num_threads()} CPU threads, ftapi attention "
            f"{reference.placement.attention}, {args.steps} steps of {args.batch_size} "
            f"examples, max length {args.max_seq_length}",
            flush=True,
        )
        peak = args.peak_tflops if device.type == "cuda" else None
        ftapi, baseline = [], []
        for _ in range(args.repeats):
            ftapi.append(ftapi_run(config, args.steps))
            report("ftapi", ftapi[-1], parameters, peak)
            baseline.append(baseline_run(config, reference, args.steps))
            report("baseline", baseline[-1], parameters, peak)
        ratios = [
            (f["real"] / f["seconds"]) / (b["real"] / b["seconds"])
            for f, b in zip(ftapi, baseline, strict=True)
        ]
        print(f"median of {args.repeats}:")
        report("ftapi", median_result(ftapi), parameters, peak)
        report("baseline", median_result(baseline), parameters, peak)
        print(f"    ratio: {statistics.median(ratios):.2f}x tokens/s (ftapi / baseline, median)")
        if device.type == "cpu":
            cpu_ratios = [
                (f["real"] / f["cpu_seconds"]) / (b["real"] / b["cpu_seconds"])
                for f, b in zip(ftapi, baseline, strict=True)
            ]
            print(f"    ratio: {statistics.median(cpu_ratios):.2f}x per CPU second (median)")


class _Null:
    """A channel that drops messages and a stop signal that never fires."""

    def send(self, message: object) -> None: ...

    def is_set(self) -> bool:
        return False


if __name__ == "__main__":
    main()
