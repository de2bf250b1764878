"""Fine-tuning jobs: request shapes, hyperparameters, and (later) the state machine and queues."""
