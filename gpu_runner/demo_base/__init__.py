"""The demo base model of ``ftapi dev``: a small Llama pretrained on synthetic chat skills.

``corpus`` generates the seeded skills corpus, ``pretrain`` trains the model on it, ``build``
adds the reference set and the manifest, and ``shipped`` installs the copy this package ships
(``model/``). ``python -m gpu_runner.demo_base pretrain --out DIR`` rebuilds it.
"""
