"""Dynamic batching, engine-agnostic: the grouped queue (`queue`), the dispatch policy
(`policy`), the settings (`config`), what it reports (`observer`) and the `Batcher` itself."""

from service.batching.batcher import Batcher
from service.batching.config import BatchingConfig
from service.batching.observer import BatcherStats, BatchObserver, NullObserver
from service.batching.pending import Progress

__all__ = [
    "BatchObserver",
    "Batcher",
    "BatcherStats",
    "BatchingConfig",
    "NullObserver",
    "Progress",
]
