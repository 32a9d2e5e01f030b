"""How the gRPC port behaves: connection management, TLS and authentication settings.

Two `Settings` sections (flags ``--max-connection-age-seconds``, ``--tls-cert``, ...; env
``S2S_<NAME>``). The connection defaults suit a replica behind a load balancer or a Kubernetes
Service: connections are recycled every few minutes so clients spread over new replicas,
keepalive pings are allowed often enough for clients that use them, and one client cannot open
unbounded streams or send unbounded headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """Connection management of the gRPC server (see README "Security" and "Running").

    Attributes:
        max_connection_age_seconds: A connection older than this gets GOAWAY (with gRPC's own
            +-10 % jitter); clients reconnect and re-resolve, so traffic reaches replicas added
            since. 300 s: a scale-out is used within minutes. 0 = never.
        max_connection_age_grace_seconds: How long calls on a recycled connection may still
            run. 30 s, above any call the cost budget allows.
        keepalive_time_seconds: The server pings a connection with no traffic this often to
            find dead peers (and keep idle connections open through load balancers that drop
            them after minutes); 60 s.
        keepalive_timeout_seconds: An unanswered ping closes the connection after this; 20 s.
        min_ping_interval_seconds: Clients may ping at most this often (gRPC's default is 300 s,
            which disconnects clients that keep alive every 10-60 s); 10 s. A client that pings
            more often than this `max_ping_strikes` times is disconnected (GOAWAY).
        max_concurrent_streams: Calls one connection may have open at once (HTTP/2
            SETTINGS_MAX_CONCURRENT_STREAMS). 1024, the same as `max_concurrent_rpcs`: behind a
            proxy (Envoy, an ingress, a mesh sidecar) a few connections carry every caller's
            calls, and a client that opens more calls than this at once on a new connection
            has the excess refused (UNAVAILABLE, "RST_STREAM") before it learns the limit
            (measured: 83 of 400 calls at 256).
        max_concurrent_rpcs: Calls the whole server handles at once; beyond it gRPC answers
            RESOURCE_EXHAUSTED before the call reaches this service's code (so those refusals
            are not in s2s_requests_total). 1024, twice the default queue of 512 requests:
            overload is normally refused by the queue, with a retry hint, well before this.
        max_metadata_bytes: Largest request header block (metadata) accepted; 8192.
        reflection: Serve gRPC server reflection (grpcurl, Postman). Off (``--no-reflection``)
            hides the API description from anyone who can reach the port.
    """

    max_connection_age_seconds: float = _setting(
        300.0, "recycle connections after this (0 = never)"
    )
    max_connection_age_grace_seconds: float = _setting(
        30.0, "time calls on a recycled connection may still run"
    )
    keepalive_time_seconds: float = _setting(60.0, "ping idle connections this often")
    keepalive_timeout_seconds: float = _setting(20.0, "close a connection whose ping is unanswered")
    min_ping_interval_seconds: float = _setting(10.0, "clients may ping at most this often")
    max_ping_strikes: int = _setting(2, "too-frequent pings before a client is disconnected")
    max_concurrent_streams: int = _setting(1024, "concurrent calls per connection")
    max_concurrent_rpcs: int = _setting(1024, "concurrent calls per server (beyond: refused)")
    max_metadata_bytes: int = _setting(8192, "largest request metadata (headers) accepted")
    reflection: bool = _setting(True, "serve gRPC server reflection (--no-reflection: off)")

    def __post_init__(self) -> None:
        for name in ("max_ping_strikes", "max_concurrent_streams", "max_concurrent_rpcs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_metadata_bytes < 1024:
            raise ValueError(
                f"max_metadata_bytes must be at least 1024, got {self.max_metadata_bytes}"
            )
        for name in (
            "max_connection_age_seconds",
            "max_connection_age_grace_seconds",
            "keepalive_time_seconds",
            "keepalive_timeout_seconds",
            "min_ping_interval_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")

    def grpc_options(self) -> list[tuple[str, int]]:
        """Channel arguments for ``grpc.aio.server``."""

        def ms(seconds: float) -> int:
            return int(seconds * 1000)

        options = [
            ("grpc.keepalive_time_ms", ms(self.keepalive_time_seconds)),
            ("grpc.keepalive_timeout_ms", ms(self.keepalive_timeout_seconds)),
            ("grpc.keepalive_permit_without_calls", 1),
            # The server-side minimum between received pings (GRPC_ARG_HTTP2_MIN_RECV_PING_...).
            ("grpc.http2.min_ping_interval_without_data_ms", ms(self.min_ping_interval_seconds)),
            ("grpc.http2.max_ping_strikes", self.max_ping_strikes),
            ("grpc.max_concurrent_streams", self.max_concurrent_streams),
            ("grpc.max_metadata_size", self.max_metadata_bytes),
        ]
        if self.max_connection_age_seconds > 0:
            options += [
                ("grpc.max_connection_age_ms", ms(self.max_connection_age_seconds)),
                ("grpc.max_connection_age_grace_ms", ms(self.max_connection_age_grace_seconds)),
            ]
        return options


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """TLS on the gRPC port and bearer-token authentication (README "Security").

    Attributes:
        tls_cert: PEM certificate chain of the server; with `tls_key` the port speaks TLS only.
        tls_key: PEM private key of `tls_cert`.
        tls_client_ca: PEM CA bundle; when set, clients must present a certificate it signed
            (mutual TLS).
        auth_tokens_file: Bearer tokens callers may use, as SHA-256 hashes with a name (and an
            optional rate limit and method list; format in `service.auth`). Unset: no token
            needed. The health service stays open either way.
        reload_seconds: How often the certificate and token files are checked for changes
            (SIGHUP checks at once). Changed files apply to new connections and calls without a
            restart; a broken new file is logged and the old one kept.
    """

    tls_cert: Path | None = _setting(None, "PEM server certificate (chain); enables TLS")
    tls_key: Path | None = _setting(None, "PEM private key of --tls-cert")
    tls_client_ca: Path | None = _setting(
        None, "PEM CA that client certificates must chain to (mTLS)"
    )
    auth_tokens_file: Path | None = _setting(
        None, "file of 'name sha256-hex [rate=N] [methods=...]' lines; enables bearer tokens"
    )
    reload_seconds: float = _setting(2.0, "how often certificate and token files are re-checked")

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be set together (--tls-cert, --tls-key)")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("tls_client_ca needs tls_cert and tls_key (mutual TLS is TLS)")
        if self.reload_seconds <= 0:
            raise ValueError(f"reload_seconds must be above 0, got {self.reload_seconds}")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None
