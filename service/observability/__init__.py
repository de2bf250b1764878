"""Prometheus metrics of the api process."""
