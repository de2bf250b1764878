"""Fine-tuning jobs: typed methods and hyperparameters, the state machine, the store, the
preflight, validation, the reconciler, and the contract a trainer implements."""
