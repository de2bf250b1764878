"""Task queues on Redis (arq): names, serialization, and the enqueue seam the domain uses."""
