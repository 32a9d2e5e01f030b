"""TLS and mutual TLS on the real server, with certificates this test makes: who gets in, who
does not, and a certificate rotated on SIGHUP without a restart."""

from __future__ import annotations

import dataclasses
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.client import ClientError, Connection, Seq2SeqClient
from tests.certs import CertificateAuthority
from tests.serverproc import REGISTRY, ServerProcess, running_server

TEXT = "The dog sees the cat."
GERMAN = "Der Hund sieht die Katze."


class Pki:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.server_ca = CertificateAuthority(root / "server-ca", "server-ca")
        self.client_ca = CertificateAuthority(root / "client-ca", "client-ca")
        self.other_ca = CertificateAuthority(root / "other-ca", "other-ca")
        self.server = self.server_ca.issue("server", server=True)
        self.client = self.client_ca.issue("client", server=False)
        self.stranger = self.other_ca.issue("stranger", server=False)
        self.trusted = self.server_ca.cert  # the CA of the certificate the server uses now
        # The files the server reads; rotation replaces them.
        self.live_cert = root / "live.crt"
        self.live_key = root / "live.key"
        shutil.copy(self.server.cert, self.live_cert)
        shutil.copy(self.server.key, self.live_key)

    def good(self, ca: Path | None = None) -> Connection:
        return Connection(ca=ca or self.trusted, cert=self.client.cert, key=self.client.key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("tls-server"),
        "--tls-cert", str(pki.live_cert), "--tls-key", str(pki.live_key),
        "--tls-client-ca", str(pki.client_ca.cert), "--reload-seconds", "600",
        models=REGISTRY, connection=pki.good(),
    ) as server:  # fmt: skip
        yield server


def translate(server: ServerProcess, connection: Connection) -> str:
    """The translation over a fresh connection (a new handshake), or the failed call's code."""
    fresh = dataclasses.replace(
        connection, channel_options=(("grpc.use_local_subchannel_pool", 1),)
    )
    with Seq2SeqClient(server.target, timeout=20, connection=fresh) as client:
        try:
            return client.translate([TEXT], "en", "de").results[0].text
        except ClientError as exc:
            return exc.code.name


def test_mutual_tls_admits_only_a_trusted_client_over_a_trusted_server(
    pki: Pki, mtls_server: ServerProcess
) -> None:
    assert translate(mtls_server, pki.good()) == GERMAN
    refused = {
        "plaintext": Connection(),
        "no client certificate": Connection(ca=pki.trusted),
        "client certificate from another CA": Connection(
            ca=pki.trusted, cert=pki.stranger.cert, key=pki.stranger.key
        ),
        "server not trusted": pki.good(ca=pki.other_ca.cert),
    }
    outcomes = {name: translate(mtls_server, c) for name, c in refused.items()}
    assert outcomes == dict.fromkeys(refused, "UNAVAILABLE")
    assert translate(mtls_server, pki.good()) == GERMAN  # still serving the good client
    assert mtls_server.health() is not None  # health over mTLS, as `s2s health --ca ...`


def _await_log(server: ServerProcess, event: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while server.log().count(event) < count:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)


def test_certificate_rotation_on_sighup_needs_no_restart(
    pki: Pki, mtls_server: ServerProcess
) -> None:
    new_ca = CertificateAuthority(pki.root / "new-server-ca", "new-server-ca")
    new = new_ca.issue("server-2", server=True)
    old_trust, new_trust = pki.good(pki.trusted), pki.good(new_ca.cert)
    assert translate(mtls_server, new_trust) == "UNAVAILABLE"
    reloads = mtls_server.log().count('"tls_reloaded"')
    # Replace the files the way a secret update does (write aside, rename over), then SIGHUP.
    for source, live in ((new.cert, pki.live_cert), (new.key, pki.live_key)):
        staging = live.with_suffix(".new")
        shutil.copy(source, staging)
        staging.replace(live)
    pid = mtls_server.proc.pid
    mtls_server.proc.send_signal(signal.SIGHUP)
    _await_log(mtls_server, '"tls_reloaded"', reloads + 1)
    pki.trusted = new_ca.cert
    assert translate(mtls_server, new_trust) == GERMAN
    assert translate(mtls_server, old_trust) == "UNAVAILABLE"
    assert mtls_server.proc.pid == pid and mtls_server.proc.poll() is None


def test_a_broken_new_certificate_is_refused_and_the_old_one_kept(
    pki: Pki, mtls_server: ServerProcess
) -> None:
    good_key = pki.live_key.read_bytes()
    failures = mtls_server.log().count('"tls_reload_failed"')
    pki.live_key.write_text("-----BEGIN PRIVATE KEY-----\nhalf-written\n")
    try:
        mtls_server.proc.send_signal(signal.SIGHUP)
        _await_log(mtls_server, '"tls_reload_failed"', failures + 1)
        assert translate(mtls_server, pki.good()) == GERMAN
    finally:
        pki.live_key.write_bytes(good_key)
