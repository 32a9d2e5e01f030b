"""Manifests round-trip, reject what the registry could not serve, and revisions track files."""

import dataclasses
import json
from pathlib import Path

import pytest

from service.manifest import (
    LanguageCodes,
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


NLLB = LanguageCodes(
    codes={"en": "eng_Latn", "de": "deu_Latn", "zh-Hant": "zho_Hant"},
    aliases={"zh-TW": "zh-Hant"},
    source_prefix=("{source}",),
)


def test_language_codes_round_trip_and_make_routes(tmp_path: Path) -> None:
    manifest = dataclasses.replace(
        make(), translation=(), languages=NLLB, max_decoder_positions=256
    )
    write_manifest(tmp_path, manifest)
    loaded = load_manifest(tmp_path)
    assert loaded == manifest and loaded.translates
    route = loaded.languages.route("de-AT", "zh-TW")  # type: ignore[union-attr]
    assert route == TranslationRoute(
        "de", "zh-Hant", source_prefix=("deu_Latn",), target_prefix=("zho_Hant",)
    )
    assert loaded.languages.route("en", "en") is None  # type: ignore[union-attr]
    assert loaded.languages.pairs()[:2] == [("de", "en"), ("de", "zh-Hant")]  # type: ignore[union-attr]
    assert loaded.max_output_tokens(route.target_prefix) == 255
    assert make().max_output_tokens(("x",)) is None  # no position limit recorded


@pytest.mark.parametrize(
    ("languages", "message"),
    [
        ({"codes": {"en": "eng_Latn"}}, "at least two"),
        ({"codes": {"en": "a", "de": "b"}, "aliases": {"zh": "zh-Hans"}}, "unknown codes"),
        ({"codes": {"en": "a", "de": "b"}, "target_prefix": ["{lang}"]}, "may only use"),
    ],
)
def test_bad_language_tables_are_rejected(languages: dict, message: str) -> None:
    data = {**make().to_dict(), "translation": [], "languages": languages}
    with pytest.raises(ManifestError, match=message):
        Manifest.from_dict(data)


def test_old_manifests_without_the_new_fields_still_load() -> None:
    data = make().to_dict()
    for key in ("languages", "max_decoder_positions", "verification"):
        data.pop(key)
    for route in data["translation"] + data["summarization"]:
        route.pop("source_prefix")
        route.pop("source_suffix")
    assert Manifest.from_dict(data) == make()
