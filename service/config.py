"""One frozen, typed Settings object, built once in `main` from flags, environment and defaults.

Precedence: command-line flag > environment variable (``S2S_<FIELD>``) > built-in default.
Each field's ``metadata["help"]`` is its documentation; `s2s serve`'s flags are generated from
the fields (`service.cli`), so a new setting is one field here. Nothing else reads the
environment.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from service.batching import BatchingConfig
from service.netconfig import NetworkConfig, SecurityConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = REPO_ROOT / "models"
ENV_PREFIX = "S2S_"
DEVICES = ("cpu", "cuda")
# CTranslate2 compute types; the converter's quantizations are the same list minus "auto".
COMPUTE_TYPES = (
    "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
    "float16", "bfloat16", "float32",
)  # fmt: skip
LOG_FORMATS = ("json", "console")
CACHE_MODES = ("on", "off", "result", "encoder")
CACHE_DTYPES = ("auto", "float32", "float16", "bfloat16")
# A GPU batch takes a few ms, so the CPU default wait for company (50 ms) would dominate its
# latency; 5 ms is a tenth of that, not measured here (no GPU was at hand).
GPU_MAX_WAIT_MS = 5.0


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


def setting(default: Any, help: str, **extra: Any) -> Any:
    """A settings field with its help text (and optional ``flag`` name) as metadata."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what one request may ask for; each keeps one caller from starving the others."""

    max_texts: int = setting(64, "texts per request")
    max_text_chars: int = setting(
        40_000,
        "characters per text: a document (translation splits it into sentences; greedy, one this "
        "long fits the default cost budget)",
    )
    max_request_chars: int = setting(
        64 * 8192, "characters per request, all texts together (bounds the request message)"
    )
    max_beam_size: int = setting(8, "cap on options.beam_size")
    max_length: int = setting(512, "cap on options.max_length (output tokens)")
    max_num_hypotheses: int = setting(8, "cap on options.num_hypotheses (n-best)")
    max_sampling_top_k: int = setting(1000, "cap on options.sampling_top_k")

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"{f.name} must be at least 1, got {getattr(self, f.name)}")

    def request_bytes(self) -> int:
        """The largest request message these limits allow: the most characters a request may
        hold, in 4-byte UTF-8, plus room for the other fields."""
        chars = min(self.max_texts * self.max_text_chars, self.max_request_chars)
        return chars * 4 + 64 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = setting("127.0.0.1", "address to listen on (0.0.0.0 for all interfaces)")
    port: int = setting(50051, "gRPC port (0 = any free port)")
    models_dir: Path = setting(
        DEFAULT_MODELS_DIR, "registry directory (a folder of model directories)", flag="--models"
    )
    device: Literal["cpu", "cuda"] = setting("cpu", "device the engines run on")
    device_index: int = setting(0, "GPU index with --device cuda")
    compute_type: str = setting(
        "auto",
        "int8, int8_float16, bfloat16, float16, float32, ... (auto: int8 on CPU; on GPU "
        "bfloat16 for T5, int8_float16 otherwise)",
    )
    inter_threads: int = setting(0, "CTranslate2 replicas (0 = chosen from the cores)")
    intra_threads: int = setting(0, "threads per replica (0 = chosen from the cores)")
    engine_nice: int = setting(
        -1, "engine threads' extra nice value, so the event loop gets a core first "
        "(-1 = auto: 10 on CPU, 0 on GPU)",
    )  # fmt: skip
    limits: Limits = field(default_factory=Limits)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    warmup_rounds: int = setting(
        2, "warm-up requests per model before health turns SERVING (first calls allocate)"
    )
    grace_seconds: float = setting(
        30.0, "time in-flight calls get to finish on SIGTERM (the process exits within it + 2 s)"
    )
    metrics_port: int = setting(9400, "Prometheus /metrics port (0 = off)")
    metrics_host: str = setting("127.0.0.1", "address the metrics endpoint listens on")
    log_level: str = setting("info", "debug, info, warning or error")
    log_format: Literal["json", "console"] = setting("json", "log line format")
    log_text: bool = setting(False, "log request texts (off: they may hold personal data)")
    max_message_bytes: int = setting(
        0, "largest request message accepted (0 = what the limits allow: texts x chars x 4 + 64K)"
    )
    cache: Literal["on", "off", "result", "encoder"] = setting(
        "on", "caches to run: on (results, and encoder outputs for torch models), off (every "
        "text is decoded from scratch), result or encoder (only that one)",
    )  # fmt: skip
    cache_memory_mb: int = setting(64, "in-process result cache size in MiB (0 = no memory tier)")
    encoder_cache_memory_mb: int = setting(
        256, "in-process encoder-output cache size in MiB, torch models only (0 = no memory tier)"
    )
    encoder_cache_dtype: Literal["auto", "float32", "float16", "bfloat16"] = setting(
        "auto", "dtype encoder outputs are cached in (auto: float16 for float32 engines, 2 "
        "bytes a value, float32 for an output beyond float16's range; half-precision engines "
        "store what they compute). Fresh outputs are rounded through it, so hits and misses "
        "decode alike",
    )  # fmt: skip
    redis_url: str = setting(
        "", "Redis for the shared cache tier, e.g. redis://127.0.0.1:6379/0 (rediss:// and "
        "passwords work; empty = no Redis tier)",
    )  # fmt: skip
    cache_ttl_seconds: int = setting(7 * 24 * 3600, "how long Redis keeps a cached result")
    redis_timeout_ms: float = setting(
        50.0, "timeout of each Redis operation; a slow Redis costs at most this per request"
    )
    redis_breaker_failures: int = setting(
        3, "consecutive Redis failures after which the cache stops asking it for a while"
    )
    redis_breaker_cooldown_s: float = setting(2.0, "how long the cache leaves Redis alone then")
    language_detection: bool = setting(
        True, "detect the source language when a Translate request leaves it empty or 'auto' "
        "(loads a ~75 MB model at start-up)",
    )  # fmt: skip
    detection_min_confidence: float = setting(
        0.8, "least probability (among the served source languages) a detection needs"
    )
    detection_min_letters: int = setting(8, "fewest letters a text needs for detection")
    build_revision: str = setting(
        "", "source revision for s2s_build_info (images set it; empty: git HEAD if any)"
    )

    @classmethod
    def sections(cls) -> dict[str, type[Any]]:
        """The nested settings sections (limits, batching, ...): field name → dataclass."""
        hints = typing.get_type_hints(cls)
        return {
            f.name: hints[f.name]
            for f in fields(cls)
            if "help" not in f.metadata and dataclasses.is_dataclass(hints[f.name])
        }

    def request_bytes(self) -> int:
        """The request size limit gRPC enforces."""
        return self.max_message_bytes or self.limits.request_bytes()

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
        sections = cls.sections()
        nested: dict[str, dict[str, Any]] = {name: {} for name in sections}
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
            built = {name: klass(**nested[name]) for name, klass in sections.items()}
            settings = cls(**values, **built)
        except ValueError as exc:  # each section checks its own ranges
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
        for name, allowed in (("cache", CACHE_MODES), ("encoder_cache_dtype", CACHE_DTYPES)):
            if getattr(self, name) not in allowed:
                raise SettingsError(
                    f"{name} is {getattr(self, name)!r}; expected one of: {allowed}"
                )
        if (
            min(self.cache_memory_mb, self.encoder_cache_memory_mb) < 0
            or self.cache_ttl_seconds < 1
            or self.redis_timeout_ms <= 0
        ):
            raise SettingsError(
                "cache_memory_mb and encoder_cache_memory_mb must be >= 0, cache_ttl_seconds "
                ">= 1 and redis_timeout_ms > 0"
            )
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(
                "redis_url must start with redis://, rediss:// or unix:// "
                "(e.g. redis://127.0.0.1:6379/0)"
            )
        if not 0 < self.detection_min_confidence <= 1 or self.detection_min_letters < 1:
            raise SettingsError(
                "detection_min_confidence must be in (0, 1] and detection_min_letters >= 1"
            )
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port is {self.port}; expected 0-65535")
        if not self.models_dir.is_dir():
            raise SettingsError(
                f"models_dir {self.models_dir} is not a directory "
                f"(--models, {ENV_PREFIX}MODELS_DIR)"
            )
        if self.max_message_bytes < 0:
            raise SettingsError(f"max_message_bytes is {self.max_message_bytes}; expected >= 0")
        for name in ("tls_cert", "tls_key", "tls_client_ca", "auth_tokens_file"):
            path = getattr(self.security, name)
            if path is not None and not path.is_file():
                flag = "--" + name.replace("_", "-")
                raise SettingsError(
                    f"{name} {path} is not a readable file ({flag}, {ENV_PREFIX}{name.upper()})"
                )

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
        if "None" in kind and not raw.strip():
            return None
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
