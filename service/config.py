"""One frozen, typed Settings object, built once in `main` from flags, environment and defaults.

Precedence: command-line flag > environment variable (``S2S_<FIELD>``) > built-in default.
Nothing else in the service reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from service.batcher import BatchingConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = REPO_ROOT / "models"
ENV_PREFIX = "S2S_"
DEVICES = ("cpu", "cuda")
COMPUTE_TYPES = (
    "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
    "float16", "bfloat16", "float32",
)  # fmt: skip
LOG_FORMATS = ("json", "console")
# A GPU batch takes a few ms, so the CPU default wait for company (50 ms) would dominate its
# latency; 5 ms is a tenth of that, not measured here (no GPU was at hand).
GPU_MAX_WAIT_MS = 5.0


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what one request may ask for; each keeps one caller from starving the others."""

    max_texts: int = 64
    max_text_chars: int = 8192
    max_beam_size: int = 8
    max_length: int = 512
    max_num_hypotheses: int = 8
    max_sampling_top_k: int = 1000


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 50051
    models_dir: Path = DEFAULT_MODELS_DIR
    device: Literal["cpu", "cuda"] = "cpu"
    device_index: int = 0
    compute_type: str = "auto"
    # CTranslate2 replicas and threads per replica; 0 = chosen from the machine.
    inter_threads: int = 0
    intra_threads: int = 0
    # Added to the engine threads' nice value so the event loop gets a core first (-1 = auto:
    # 10 on CPU, where engine and server share the cores; 0 on GPU, where they do not).
    engine_nice: int = -1
    limits: Limits = field(default_factory=Limits)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    # Warm-up requests per model before health turns SERVING (first CTranslate2 calls allocate).
    warmup_rounds: int = 2
    grace_seconds: float = 30.0
    metrics_port: int = 9400  # 0 disables the Prometheus exporter
    metrics_host: str = "127.0.0.1"
    log_level: str = "info"
    log_format: Literal["json", "console"] = "json"
    log_text: bool = False  # log request texts (off: they may hold personal data)
    max_message_bytes: int = 4 * 1024 * 1024

    def resolve_threads(self, cpu_count: int | None = None) -> tuple[int, int]:
        """(inter_threads, intra_threads) to run CTranslate2 with.

        On CPU, several single-threaded replicas beat one multi-threaded replica for batched
        serving (measured on 2 cores: inter 2 x intra 1 was fastest); on GPU one replica per
        device is the norm.
        """
        cores = cpu_count or os.cpu_count() or 1
        if self.device == "cuda":
            return (self.inter_threads or 1, self.intra_threads or 1)
        inter = self.inter_threads or max(1, min(4, cores))
        intra = self.intra_threads or max(1, cores // inter)
        return inter, intra

    def resolve_engine_nice(self) -> int:
        """How much lower the engine threads' CPU priority is than the server's.

        Under overload on CPU the engine threads fill every core; at nice 10 the kernel gives a
        runnable event loop about 10x their weight, so rejections and health checks are answered
        at once while batches lose only the little time the loop needs (docs/benchmarks.md).
        """
        if self.engine_nice >= 0:
            return self.engine_nice
        return 10 if self.device == "cpu" else 0

    def compute_type_for(self, family: str) -> str:
        """The compute type a model runs in: int8 on CPU; on GPU bfloat16 for the T5 family
        (its activations overflow in float16) and int8_float16 otherwise."""
        if self.compute_type != "auto":
            return self.compute_type
        if self.device == "cpu":
            return "int8"
        return "bfloat16" if family in ("t5", "mt5", "flan-t5") else "int8_float16"

    @classmethod
    def build(
        cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from flags (None = not given) over ``S2S_*`` environment variables."""
        flags = dict(flags or {})
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {"limits": {}, "batching": {}}
        sections = {"limits": Limits, "batching": BatchingConfig}
        for section, klass in sections.items():
            for f in fields(klass):
                raw = _pick(flags, env, f.name)
                if raw is not None:
                    nested[section][f.name] = _coerce(f.name, raw, f.type)
        for f in fields(cls):
            if f.name in sections:
                continue
            raw = _pick(flags, env, f.name)
            if raw is not None:
                values[f.name] = _coerce(f.name, raw, f.type)
        if "max_wait_ms" not in nested["batching"] and values.get("device") == "cuda":
            nested["batching"]["max_wait_ms"] = GPU_MAX_WAIT_MS
        try:
            settings = cls(
                **values,
                limits=Limits(**nested["limits"]),
                batching=BatchingConfig(**nested["batching"]),
            )
        except ValueError as exc:  # BatchingConfig checks its own ranges
            raise SettingsError(str(exc)) from exc
        settings.check()
        return settings

    def check(self) -> None:
        if self.device not in DEVICES:
            raise SettingsError(f"device is {self.device!r}; expected one of: {DEVICES}")
        if self.compute_type not in COMPUTE_TYPES:
            raise SettingsError(
                f"compute_type is {self.compute_type!r}; expected one of: {COMPUTE_TYPES}"
            )
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(
                f"log_format is {self.log_format!r}; expected one of: {LOG_FORMATS}"
            )
        if not -1 <= self.engine_nice <= 19:
            raise SettingsError(f"engine_nice is {self.engine_nice}; expected 0-19 (-1 = auto)")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port is {self.port}; expected 0-65535")
        if not self.models_dir.is_dir():
            raise SettingsError(f"models_dir {self.models_dir} is not a directory")
        for name in (
            "max_batch_size",
            "max_batch_tokens",
            "max_queue_requests",
            "max_queue_tokens",
        ):
            if getattr(self.batching, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        for f in fields(Limits):
            if getattr(self.limits, f.name) < 1:
                raise SettingsError(f"{f.name} must be at least 1")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _pick(flags: Mapping[str, Any], env: Mapping[str, str], name: str) -> Any:
    if flags.get(name) is not None:
        return flags[name]
    return env.get(ENV_PREFIX + name.upper())


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    """Convert a flag or environment string to the field's type, with an actionable error."""
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if not isinstance(raw, str):
        return Path(raw) if "Path" in kind and not isinstance(raw, Path) else raw
    try:
        if "Path" in kind:
            return Path(raw)
        if kind == "bool":
            low = raw.strip().lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise ValueError(f"expected one of {sorted(_TRUE | _FALSE)}")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r}: {exc}") from exc
    return raw
