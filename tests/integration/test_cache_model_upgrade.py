"""A model upgrade never serves a stale result: a new revision of the same model misses every
entry the old one wrote, even in a shared Redis."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from converters import convert
from service.client import Seq2SeqClient
from service.manifest import load_manifest
from tests.redisproc import redis_server
from tests.serverproc import DEMO_REGISTRY, ROOT, running_server

TEXT = "The old man sees 7 small dogs in the garden."


@pytest.mark.slow
def test_a_new_revision_misses_the_old_revisions_entries(tmp_path: Path) -> None:
    old_registry = tmp_path / "old"
    shutil.copytree(DEMO_REGISTRY / "t5-demo", old_registry / "t5-demo")
    new_registry = tmp_path / "new"
    convert(  # the same checkpoint, converted again with other weights: a new revision
        ROOT / "demo_model" / "checkpoint", new_registry / "t5-demo", quantization="float32"
    )
    old_revision = load_manifest(old_registry / "t5-demo").revision
    new_revision = load_manifest(new_registry / "t5-demo").revision
    assert old_revision != new_revision

    with redis_server(tmp_path) as redis:
        flags = ("--redis-url", redis.url)
        with (
            running_server(tmp_path / "a", *flags, models=old_registry) as old,
            Seq2SeqClient(old.target) as client,
        ):
            client.translate([TEXT], "en", "de")
            assert client.translate([TEXT], "en", "de").results[0].cached
        with (
            running_server(tmp_path / "b", *flags, models=new_registry) as new,
            Seq2SeqClient(new.target) as client,
        ):
            upgraded = client.translate([TEXT], "en", "de")
            again = client.translate([TEXT], "en", "de")
    assert upgraded.model_revision == new_revision
    assert not upgraded.results[0].cached  # the old revision's entry was not served
    assert again.results[0].cached
