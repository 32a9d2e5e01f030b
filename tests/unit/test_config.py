"""Settings come from flags over environment over defaults, and bad values fail clearly."""

from pathlib import Path

import pytest

from service.config import DEFAULT_MODELS_DIR, Settings, SettingsError


def test_defaults_serve_the_shipped_registry_on_loopback() -> None:
    settings = Settings.build({}, env={})
    assert settings.models_dir == DEFAULT_MODELS_DIR
    assert (settings.host, settings.port) == ("127.0.0.1", 50051)


def test_flags_beat_environment(tmp_path: Path) -> None:
    env = {"S2S_PORT": "6000", "S2S_MAX_BATCH_SIZE": "16", "S2S_LOG_TEXT": "yes"}
    settings = Settings.build({"port": 7000, "models_dir": tmp_path}, env=env)
    assert settings.port == 7000
    assert settings.batching.max_batch_size == 16
    assert settings.log_text is True
    assert settings.models_dir == tmp_path


@pytest.mark.parametrize(
    ("env", "phrase"),
    [
        ({"S2S_PORT": "abc"}, "S2S_PORT='abc'"),
        ({"S2S_DEVICE": "tpu"}, "expected one of"),
        ({"S2S_COMPUTE_TYPE": "int4"}, "compute_type"),
        ({"S2S_MAX_BATCH_SIZE": "0"}, "max_batch_size must be at least 1"),
        ({"S2S_MODELS_DIR": "/nonexistent"}, "not a directory"),
        ({"S2S_ENGINE_NICE": "25"}, "engine_nice is 25; expected 0-19"),
        ({"S2S_TLS_CERT": "/etc/hostname"}, "tls_cert and tls_key must be set together"),
        ({"S2S_TLS_CERT": "/nonexistent", "S2S_TLS_KEY": "/nonexistent"}, "--tls-cert"),
        ({"S2S_AUTH_TOKENS_FILE": "/nonexistent"}, "S2S_AUTH_TOKENS_FILE"),
        ({"S2S_MAX_CONCURRENT_RPCS": "0"}, "max_concurrent_rpcs must be at least 1"),
        ({"S2S_CACHE": "sometimes"}, "cache is 'sometimes'; expected one of"),
        ({"S2S_ENCODER_CACHE_DTYPE": "int8"}, "encoder_cache_dtype is 'int8'"),
        ({"S2S_ENCODER_CACHE_MEMORY_MB": "-1"}, "encoder_cache_memory_mb must be >= 0"),
    ],
)
def test_bad_values_are_rejected(env: dict[str, str], phrase: str) -> None:
    with pytest.raises(SettingsError, match=phrase):
        Settings.build({}, env=env)


def test_request_size_limit_follows_the_limits_unless_set() -> None:
    settings = Settings.build({}, env={})
    assert settings.request_bytes() == 64 * 8192 * 4 + 64 * 1024  # max_request_chars
    assert Settings.build({"max_texts": 8}, env={}).request_bytes() == 8 * 40_000 * 4 + 65536
    assert Settings.build({"max_message_bytes": 10_000}, env={}).request_bytes() == 10_000


def test_connection_settings_reach_grpc_and_empty_paths_mean_unset() -> None:
    settings = Settings.build({}, env={"S2S_TLS_CERT": "", "S2S_MAX_CONNECTION_AGE_SECONDS": "60"})
    assert settings.security.tls_cert is None and not settings.security.tls
    options = dict(settings.network.grpc_options())
    assert options["grpc.max_connection_age_ms"] == 60_000
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 10_000
    assert "grpc.max_connection_age_ms" not in dict(
        Settings.build({"max_connection_age_seconds": 0}, env={}).network.grpc_options()
    )


def test_compute_type_defaults() -> None:
    cpu = Settings.build({}, env={})
    assert cpu.compute_type_for("t5") == "int8"
    gpu = cpu.with_overrides(device="cuda")
    assert gpu.compute_type_for("t5") == "bfloat16"  # T5 overflows in float16
    assert gpu.compute_type_for("marian") == "int8_float16"


def test_thread_layout_on_two_cores() -> None:
    assert Settings.build({}, env={}).resolve_threads(cpu_count=2) == (2, 1)
    assert Settings.build({}, env={}).resolve_threads(cpu_count=16) == (4, 4)


def test_engine_threads_yield_to_the_server_on_cpu_only() -> None:
    cpu = Settings.build({}, env={})
    assert cpu.resolve_engine_nice() == 10
    assert cpu.with_overrides(device="cuda").resolve_engine_nice() == 0
    assert Settings.build({"engine_nice": 0}, env={}).resolve_engine_nice() == 0
    assert Settings.build({}, env={"S2S_ENGINE_NICE": "3"}).resolve_engine_nice() == 3


def test_wait_for_company_is_short_on_gpu_unless_set() -> None:
    assert Settings.build({}, env={}).batching.max_wait_ms == 50.0
    assert Settings.build({"device": "cuda"}, env={}).batching.max_wait_ms == 5.0
    assert Settings.build({"device": "cuda", "max_wait_ms": 20}, env={}).batching.max_wait_ms == 20
    assert Settings.build({}, env={"S2S_MAX_WAIT_MS": "0"}).batching.max_wait_ms == 0.0
