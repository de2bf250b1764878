"""The gpu worker: the arq process that claims training attempts and drives the trainer."""
