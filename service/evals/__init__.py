"""Evals: OpenAI's Evals API over the models a project may call, graded by ``service/graders``."""
