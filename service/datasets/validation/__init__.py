"""Streaming validation of training files: one pass, bounded memory, every problem counted."""
