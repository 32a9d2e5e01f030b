"""Dynamic batching, engine-agnostic: the grouped queue (`queue`), the dispatch policy
(`policy`), the settings (`config`), what it reports (`observer`) and the `Batcher` itself."""

from service.batching.batcher import Batcher
from service.batching.config import BatchingConfig
from service.batching.observer import BatcherStats, BatchObserver, NullObserver

__all__ = ["BatchObserver", "Batcher", "BatcherStats", "BatchingConfig", "NullObserver"]
