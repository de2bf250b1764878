"""The adapter agent, a process of its own beside each engine replica: it fetches adapters
from the blob store, keeps the engine's loaded set within bounds and proxies inference."""
