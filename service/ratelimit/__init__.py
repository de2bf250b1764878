"""Per-API-key rate limiting: GCRA buckets in Redis, shared by every api replica."""

from service.ratelimit.buckets import Bucket, BucketState, Decision
from service.ratelimit.limiter import RedisRateLimiter, rate_limit_key

__all__ = ["Bucket", "BucketState", "Decision", "RedisRateLimiter", "rate_limit_key"]
