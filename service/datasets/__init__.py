"""Training data: validating JSONL files, tokenizing them for a model, and reporting on them.

- ``validation/``: the streaming validator of a training file (``validator``): line formats
  (``formats``, ``line_schemas``), the fast path and the precise rules, the problems they report,
  and the validation of stored files beside the api (``stored_files``).
- ``tokenization/``: an example becomes tokens and a loss mask (``chat_tokenizer``), with the
  model's chat template and tokenizer files, the same code the trainer runs; and its preview.
- ``reports/``: the dataset report of a file for one model, and its store.
- here: the domain service (``service``), the HTTP routes (``http``) and shapes (``schemas``),
  and ``for_gpu_runner``, the one module the trainer and the inference engine import.
"""
