"""Shared fixtures: the real server as a subprocess on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from service.client import Seq2SeqClient
from tests.serverproc import REGISTRY, ServerProcess, running_server

if TYPE_CHECKING:
    from tests.families import FamilyModel


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with default settings, shared by the tests that only read from it."""
    with running_server(tmp_path_factory.mktemp("server"), models=REGISTRY) as server:
        yield server


@pytest.fixture(scope="session")
def family_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FamilyModel]:
    """Tiny checkpoints of every family, converted with --verify into one registry (once)."""
    from tests.families import build_registry

    return build_registry(tmp_path_factory.mktemp("families"))


@pytest.fixture
def client(demo_server: ServerProcess) -> Iterator[Seq2SeqClient]:
    with Seq2SeqClient(demo_server.target, timeout=120) as c:
        yield c
