"""Distributed tracing (OpenTelemetry) of the api and the workers; off unless an OTLP
endpoint is set."""
