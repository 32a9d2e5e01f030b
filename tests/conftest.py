"""Shared fixtures: the real server as a subprocess on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from service.client import Seq2SeqClient
from tests.serverproc import REGISTRY, ServerProcess, running_server
from tests.torchmodel import TORCH_MODEL, convert_demo

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


# One engine slot, batches of 8, no cache: the engine calls a document costs are countable.
DOCUMENT_SERVER = (
    "--inter-threads", "1", "--intra-threads", "1", "--max-batch-size", "8", "--cache", "off",
)  # fmt: skip


@pytest.fixture(scope="session")
def document_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose engine calls the document and streaming tests count."""
    tmp = tmp_path_factory.mktemp("documents")
    with running_server(tmp, *DOCUMENT_SERVER, metrics=True, models=REGISTRY) as server:
        yield server


@pytest.fixture
def client(demo_server: ServerProcess) -> Iterator[Seq2SeqClient]:
    with Seq2SeqClient(demo_server.target, timeout=120) as c:
        yield c


@pytest.fixture(scope="session")
def torch_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding the demo model converted with ``--engine torch`` (float32)."""
    registry = tmp_path_factory.mktemp("torch-registry")
    convert_demo(registry, engine="torch", quantization="float32", name=TORCH_MODEL)
    return registry


@pytest.fixture(scope="session")
def ct2_float32_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model converted for CTranslate2 in float32: the torch engine's fair reference."""
    registry = tmp_path_factory.mktemp("ct2-float32")
    return convert_demo(registry, engine="ctranslate2", quantization="float32", name="t5-f32")
