"""Helpers shared by the tests: servers, stacks, tiny models."""
