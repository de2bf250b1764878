"""Per-API-key rate limiting: GCRA buckets in Redis, shared by every api replica."""

from service.ratelimit.limiter import Bucket, Decision, RedisRateLimiter, rate_limit_key

__all__ = ["Bucket", "Decision", "RedisRateLimiter", "rate_limit_key"]
