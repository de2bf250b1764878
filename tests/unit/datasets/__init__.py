"""Unit tests of service.datasets."""
