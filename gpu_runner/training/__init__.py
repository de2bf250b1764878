"""LoRA training inside one training process (one per rank): supervised and DPO.

    config.py        the run's settings (FTAPI_LORA_*) and the resolved RunConfig (JSON)
    data.py          JSONL -> tokens through ChatTokenizer; the seeded step plan
    packing.py       rows without cross-sequence leakage; batches; the block-causal mask
    model.py         loading the base + LoRA (new, or a fine-tuned model's); scoring targets
    attention.py     varlen attention over packed rows (no mask)
    quantization.py  whether and how the base is loaded in 4-bit (QLoRA)
    flops.py         the MFU arithmetic of bench/train.py
    objectives.py    the supervised loss; dpo.py the DPO loss
    schedule.py      warm-up and decay of the learning rate
    distributed.py   ranks, gradient sums across processes
    checkpoint.py    adapter and resumable state in safetensors + JSON
    loop.py          the training loop; messages.py what it tells the parent
    errors.py        failures users can act on

The parent side (process supervision, the runner contract) is ``gpu_runner.trainer`` and
``gpu_runner.process``; the process entry point is ``gpu_runner.child``.
"""
