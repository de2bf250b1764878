"""Webhooks: per-project endpoints, signed deliveries of job events with retries, SSRF guard."""
