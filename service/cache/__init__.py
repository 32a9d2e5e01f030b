"""Caching: whole results per text and, for the torch engine, encoder outputs per source (two
tiers each: an in-process LRU and one shared Redis), keyed so that a model upgrade or any
output-changing option can never serve a stale value.

`keys` builds the keys, `codec` and `tensor_codec` the value bytes (no pickle), `memory` and
`redis_tier` are the tiers, `breaker` keeps a failing Redis off the request path,
`singleflight` decodes identical texts in flight once, `results` and `encoder` put them
together for the pipeline and the engine, and `tiers` builds them all around one Redis tier.
"""

from service.cache.encoder import EncoderCache
from service.cache.results import ResultCache
from service.cache.tiers import Caches, build_caches

__all__ = ["Caches", "EncoderCache", "ResultCache", "build_caches"]
