"""API keys and the caller they identify."""
