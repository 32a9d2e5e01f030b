"""TLS / mutual TLS for the gRPC port, with certificate files reloaded without a restart.

gRPC's dynamic server credentials ask a fetcher for a new certificate configuration at each new
TLS handshake. `ReloadingCertificates.check` (called every few seconds and on SIGHUP) re-reads
the files when their stat changed (Kubernetes swaps Secret files through a symlink, so the inode
changes) and hands the new configuration to the next handshake; connections already open keep
the certificate they negotiated. A new pair that does not load (half-written, key not matching
the certificate) is logged and ignored: the server keeps serving with the last good one.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc
import structlog

from service.files import stamp

log = structlog.get_logger(__name__)


class TlsFileError(ValueError):
    """The certificate, key or client CA cannot be used (the message names the file)."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsFileError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc


def load_configuration(
    cert: Path, key: Path, client_ca: Path | None
) -> grpc.ServerCertificateConfiguration:
    """Read and check the files: the key must match the certificate, the CA must parse."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsFileError(
            f"the TLS certificate {cert} and key {key} do not load as a pair: {exc}"
        ) from exc
    ca = None
    if client_ca is not None:
        ca = _read(client_ca, "client CA")
        try:
            context.load_verify_locations(cadata=ca.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise TlsFileError(
                f"the client CA {client_ca} is not a PEM certificate: {exc}"
            ) from exc
    return grpc.ssl_server_certificate_configuration(
        [(_read(key, "TLS key"), _read(cert, "TLS certificate"))], root_certificates=ca
    )


class ReloadingCertificates:
    """Server credentials whose certificate files are re-read when they change."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self._files = (cert, key, client_ca)
        self._stamp = stamp(*self._files)
        self._initial = load_configuration(cert, key, client_ca)
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self.reloads = 0

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._initial,
            self._fetch,
            require_client_authentication=self._files[2] is not None,
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by gRPC at each new handshake, on its own thread: hand over, never block.
        pending, self._pending = self._pending, None
        return pending

    def check(self, force: bool = False) -> bool:
        """Reload if a file changed (or ``force``); True when a new configuration is pending."""
        current = stamp(*self._files)
        if current == self._stamp and not force:
            return False
        self._stamp = current
        try:
            configuration = load_configuration(*self._files)
        except TlsFileError as exc:
            log.error("tls_reload_failed", error=str(exc), keeping="the previous certificate")
            return False
        self._pending = configuration
        self.reloads += 1
        log.info("tls_reloaded", cert=str(self._files[0]))
        return True
