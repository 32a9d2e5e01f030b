"""Caching: whole results per text (two tiers: in-process LRU and Redis), keyed so that a
model upgrade or any output-changing option can never serve a stale value.

`keys` builds the keys, `codec` the value bytes (no pickle), `memory` and `redis_tier` are the
tiers, `breaker` keeps a failing Redis off the request path, `singleflight` decodes identical
texts in flight once, and `results` puts them together for the pipeline.
"""

from service.cache.results import ResultCache, build_result_cache

__all__ = ["ResultCache", "build_result_cache"]
