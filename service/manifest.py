"""Model manifest: the contract between the converters (which write it) and the registry.

A servable model directory holds the engine files (for CTranslate2: ``model.bin``,
``config.json``, vocabularies), the tokenizer files and ``manifest.json``. The manifest says
what the model does (tasks, languages, input templates), how to tokenize for it, its default
decoding options, and its revision: a digest of every other file in the directory, so that a
changed model can never be mistaken for the old one (cache keys carry it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from service.types import DecodingOptions, Segmentation, Truncation

_E = TypeVar("_E", Segmentation, Truncation)

MANIFEST_FILE = "manifest.json"
SCHEMA_VERSION = 1
TokenizerKind = Literal["sentencepiece", "hf-tokenizers"]
TOKENIZER_KINDS: tuple[str, ...] = ("sentencepiece", "hf-tokenizers")


class ManifestError(ValueError):
    """The manifest is missing, malformed or does not match the files beside it."""


@dataclass(frozen=True, slots=True)
class TokenizerSpec:
    """How text becomes engine tokens and back.

    ``source_file`` tokenizes inputs and ``target_file`` detokenizes outputs (the same file for
    models with a shared vocabulary such as T5; Marian ships two). ``source_suffix`` is appended
    to every input (T5 and Marian need ``</s>``); ``source_prefix`` is prepended.
    """

    kind: TokenizerKind
    source_file: str
    target_file: str
    source_prefix: tuple[str, ...] = ()
    source_suffix: tuple[str, ...] = ("</s>",)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source_file": self.source_file,
            "target_file": self.target_file,
            "source_prefix": list(self.source_prefix),
            "source_suffix": list(self.source_suffix),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerSpec:
        kind = data.get("kind")
        if kind not in TOKENIZER_KINDS:
            raise ManifestError(f"tokenizer.kind is {kind!r}; expected one of: {TOKENIZER_KINDS}")
        return cls(
            kind=kind,
            source_file=_require(data, "source_file", "tokenizer"),
            target_file=data.get("target_file") or data["source_file"],
            source_prefix=tuple(data.get("source_prefix", ())),
            source_suffix=tuple(data.get("source_suffix", ("</s>",))),
        )


@dataclass(frozen=True, slots=True)
class TranslationRoute:
    """One translation direction and how to ask the model for it.

    ``input_template`` wraps the text (``{text}``), e.g. ``translate English to German: {text}``
    for T5; ``target_prefix`` forces the first output tokens (e.g. a target-language token for
    multilingual models).
    """

    source_language: str
    target_language: str
    input_template: str = "{text}"
    target_prefix: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_language": self.source_language,
            "target_language": self.target_language,
            "input_template": self.input_template,
            "target_prefix": list(self.target_prefix),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranslationRoute:
        route = cls(
            source_language=_require(data, "source_language", "translation[]"),
            target_language=_require(data, "target_language", "translation[]"),
            input_template=data.get("input_template", "{text}"),
            target_prefix=tuple(data.get("target_prefix", ())),
        )
        _check_template(route.input_template)
        return route


@dataclass(frozen=True, slots=True)
class SummarizationRoute:
    """Summarisation of texts in one language."""

    language: str
    input_template: str = "{text}"
    target_prefix: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "input_template": self.input_template,
            "target_prefix": list(self.target_prefix),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SummarizationRoute:
        route = cls(
            language=_require(data, "language", "summarization[]"),
            input_template=data.get("input_template", "{text}"),
            target_prefix=tuple(data.get("target_prefix", ())),
        )
        _check_template(route.input_template)
        return route


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a model directory serves.

    ``max_length_factor`` and ``max_length_offset`` bound a translation's output relative to its
    input, as Marian's ``--max-length-factor`` does: a text of n tokens may produce at most
    ``factor * n + offset`` tokens unless the request sets ``max_length`` (which wins), so a
    model that starts repeating itself stops there instead of at the absolute limit. A factor
    of 0 turns it off. Summaries are not bounded this way (they are short by nature).
    """

    name: str
    family: str
    tokenizer: TokenizerSpec
    revision: str
    engine: str = "ctranslate2"
    quantization: str = "int8"
    translation: tuple[TranslationRoute, ...] = ()
    summarization: tuple[SummarizationRoute, ...] = ()
    default_options: DecodingOptions = field(default_factory=DecodingOptions)
    max_input_tokens: int = 512
    description: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    # False for a model whose outputs must never be stored (the result cache skips it).
    cache_results: bool = True
    max_length_factor: float = 2.0
    max_length_offset: int = 10
    # How translation inputs are segmented when a request does not say: "auto" (sentences)
    # suits models trained on sentences (OPUS-MT, NLLB, the demo model); "none" sends texts
    # whole (document-level models).
    segmentation: Segmentation = Segmentation.AUTO
    # What happens to over-long summarisation inputs when a request does not say: "head" keeps
    # the first tokens that fit (as Hugging Face pipelines do), "none" rejects them.
    truncation: Truncation = Truncation.HEAD

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "family": self.family,
            "engine": self.engine,
            "quantization": self.quantization,
            "revision": self.revision,
            "description": self.description,
            "tokenizer": self.tokenizer.to_dict(),
            "translation": [r.to_dict() for r in self.translation],
            "summarization": [r.to_dict() for r in self.summarization],
            "default_options": self.default_options.as_dict(),
            "max_input_tokens": self.max_input_tokens,
            "max_length_factor": self.max_length_factor,
            "max_length_offset": self.max_length_offset,
            "provenance": self.provenance,
            "cache_results": self.cache_results,
            "segmentation": self.segmentation.value,
            "truncation": self.truncation.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ManifestError(
                f"schema_version is {version!r}; this server reads version {SCHEMA_VERSION}"
            )
        try:
            defaults = DecodingOptions.from_dict(data.get("default_options", {}))
        except ValueError as exc:
            raise ManifestError(f"default_options: {exc}") from exc
        manifest = cls(
            name=_require(data, "name", "manifest"),
            family=_require(data, "family", "manifest"),
            engine=data.get("engine", "ctranslate2"),
            quantization=data.get("quantization", "int8"),
            revision=_require(data, "revision", "manifest"),
            description=data.get("description", ""),
            tokenizer=TokenizerSpec.from_dict(_require(data, "tokenizer", "manifest")),
            translation=tuple(TranslationRoute.from_dict(r) for r in data.get("translation", [])),
            summarization=tuple(
                SummarizationRoute.from_dict(r) for r in data.get("summarization", [])
            ),
            default_options=defaults,
            max_input_tokens=int(data.get("max_input_tokens", 512)),
            provenance=dict(data.get("provenance", {})),
            cache_results=bool(data.get("cache_results", True)),
            max_length_factor=float(data.get("max_length_factor", 2.0)),
            max_length_offset=int(data.get("max_length_offset", 10)),
            segmentation=_choice(data, "segmentation", Segmentation, Segmentation.AUTO),
            truncation=_choice(data, "truncation", Truncation, Truncation.HEAD),
        )
        if manifest.max_length_factor < 0 or manifest.max_length_offset < 0:
            raise ManifestError(
                f"model {manifest.name!r}: max_length_factor and max_length_offset must be >= 0"
            )
        if not manifest.translation and not manifest.summarization:
            raise ManifestError(f"model {manifest.name!r} declares no translation or summarization")
        return manifest


def compute_revision(model_dir: Path) -> str:
    """Digest of every file in the model directory except the manifest (names and contents)."""
    digest = hashlib.sha256()
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)
    for path in files:
        digest.update(path.relative_to(model_dir).as_posix().encode())
        digest.update(b"\0")
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def load_manifest(model_dir: Path) -> Manifest:
    path = model_dir / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} is missing") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from exc
    return Manifest.from_dict(data)


def write_manifest(model_dir: Path, manifest: Manifest) -> None:
    (model_dir / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise ManifestError(f"{where}.{key} is required")
    return data[key]


def _choice(data: dict[str, Any], key: str, kind: type[_E], default: _E) -> _E:
    value = data.get(key, default.value)
    try:
        return kind(value)
    except ValueError:
        allowed = [m.value for m in kind]
        raise ManifestError(f"{key} is {value!r}; expected one of: {allowed}") from None


def _check_template(template: str) -> None:
    if "{text}" not in template:
        raise ManifestError(f"input_template {template!r} must contain {{text}}")
