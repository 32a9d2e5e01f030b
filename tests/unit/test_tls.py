"""Certificate files: checked when loaded, re-read when they change, a broken one refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.tls import ReloadingCertificates, TlsFileError, load_configuration
from tests.certs import CertificateAuthority


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    one, two = ca.issue("one", server=True), ca.issue("two", server=True)
    assert load_configuration(one.cert, one.key, ca.cert) is not None
    with pytest.raises(TlsFileError, match="do not load as a pair"):
        load_configuration(one.cert, two.key, None)
    with pytest.raises(TlsFileError, match="client CA"):
        load_configuration(one.cert, one.key, one.key)


def test_changed_files_are_reloaded_and_broken_ones_ignored(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    live_cert, live_key = tmp_path / "tls.crt", tmp_path / "tls.key"
    first = ca.issue("first", server=True)
    shutil.copy(first.cert, live_cert)
    shutil.copy(first.key, live_key)
    certificates = ReloadingCertificates(live_cert, live_key)
    assert certificates.credentials() is not None
    assert not certificates.check()  # nothing changed
    assert certificates._fetch() is None  # so the next handshake keeps the certificate
    second = ca.issue("second", server=True)
    shutil.copy(second.cert, live_cert)
    shutil.copy(second.key, live_key)
    assert certificates.check()
    assert certificates._fetch() is not None  # handed to the next handshake, once
    assert certificates._fetch() is None
    live_key.write_text("-----BEGIN PRIVATE KEY-----\n")  # half-written
    assert not certificates.check()
    assert certificates._fetch() is None  # the last good certificate stays
    assert certificates.check(force=True) is False and certificates.reloads == 1
