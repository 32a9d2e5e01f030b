"""Manifests round-trip, reject what the registry could not serve, and revisions track files."""

import json
from pathlib import Path

import pytest

from service.manifest import (
    Manifest,
    ManifestError,
    SummarizationRoute,
    TokenizerSpec,
    TranslationRoute,
    compute_revision,
    load_manifest,
    write_manifest,
)
from service.types import DecodingOptions


def make(revision: str = "sha256:" + "1" * 64) -> Manifest:
    return Manifest(
        name="demo",
        family="t5",
        tokenizer=TokenizerSpec("sentencepiece", "spiece.model", "spiece.model"),
        revision=revision,
        translation=(TranslationRoute("en", "de", "translate English to German: {text}"),),
        summarization=(SummarizationRoute("en", "summarize: {text}"),),
        default_options=DecodingOptions(beam_size=4, max_length=96),
    )


def test_round_trip(tmp_path: Path) -> None:
    write_manifest(tmp_path, make())
    assert load_manifest(tmp_path) == make()


def test_revision_changes_when_any_model_file_changes(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"weights")
    (tmp_path / "spiece.model").write_bytes(b"vocab")
    first = compute_revision(tmp_path)
    write_manifest(tmp_path, make(first))  # the manifest itself is not part of the digest
    assert compute_revision(tmp_path) == first
    (tmp_path / "model.bin").write_bytes(b"weights2")
    assert compute_revision(tmp_path) != first
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64


@pytest.mark.parametrize(
    ("patch", "phrase"),
    [
        ({"schema_version": 99}, "schema_version"),
        ({"name": ""}, "name is required"),
        ({"tokenizer": {"kind": "bpe", "source_file": "x"}}, "expected one of"),
        ({"default_options": {"beams": 4}}, "unknown decoding option"),
        ({"translation": [], "summarization": []}, "declares no translation"),
        (
            {
                "translation": [
                    {
                        "source_language": "en",
                        "target_language": "de",
                        "input_template": "no placeholder",
                    }
                ]
            },
            "must contain {text}",
        ),
    ],
)
def test_bad_manifests_are_rejected_with_a_reason(
    tmp_path: Path, patch: dict[str, object], phrase: str
) -> None:
    data = make().to_dict() | patch
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=phrase.replace("{", r"\{").replace("}", r"\}")):
        load_manifest(tmp_path)
