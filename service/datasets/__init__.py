"""Training data: formats, streaming validation, and (elsewhere in this package) tokenization."""
