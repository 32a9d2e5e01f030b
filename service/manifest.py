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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from service import languages
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
    for T5; ``source_prefix`` / ``source_suffix`` are tokens put around the tokenized input (a
    source-language token for mBART-50, M2M100 and NLLB); ``target_prefix`` forces the first
    output tokens (a target-language token for those models), which the reply leaves out.
    """

    source_language: str
    target_language: str
    input_template: str = "{text}"
    target_prefix: tuple[str, ...] = ()
    source_prefix: tuple[str, ...] = ()
    source_suffix: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_language": self.source_language,
            "target_language": self.target_language,
            "input_template": self.input_template,
            "target_prefix": list(self.target_prefix),
            "source_prefix": list(self.source_prefix),
            "source_suffix": list(self.source_suffix),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranslationRoute:
        route = cls(
            source_language=_require(data, "source_language", "translation[]"),
            target_language=_require(data, "target_language", "translation[]"),
            input_template=data.get("input_template", "{text}"),
            target_prefix=tuple(data.get("target_prefix", ())),
            source_prefix=tuple(data.get("source_prefix", ())),
            source_suffix=tuple(data.get("source_suffix", ())),
        )
        _check_template(route.input_template)
        return route


@dataclass(frozen=True, slots=True)
class SummarizationRoute:
    """Summarisation of texts in one language."""

    language: str
    input_template: str = "{text}"
    target_prefix: tuple[str, ...] = ()
    source_prefix: tuple[str, ...] = ()
    source_suffix: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "input_template": self.input_template,
            "target_prefix": list(self.target_prefix),
            "source_prefix": list(self.source_prefix),
            "source_suffix": list(self.source_suffix),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SummarizationRoute:
        route = cls(
            language=_require(data, "language", "summarization[]"),
            input_template=data.get("input_template", "{text}"),
            target_prefix=tuple(data.get("target_prefix", ())),
            source_prefix=tuple(data.get("source_prefix", ())),
            source_suffix=tuple(data.get("source_suffix", ())),
        )
        _check_template(route.input_template)
        return route


@dataclass(frozen=True, slots=True)
class LanguageCodes:
    """A many-to-many model (mBART-50, M2M100, NLLB): it translates between any two languages.

    ``codes`` maps each request code (BCP-47, e.g. ``zh-Hant``) to the model's own token
    (``zho_Hant``); ``aliases`` maps further request codes to one of those keys (``zh-TW`` →
    ``zh-Hant``, ``eng`` → ``en``). The prefix and suffix templates say where the language
    tokens go: ``{source}`` / ``{target}`` stand for the model tokens of the pair, e.g. NLLB:
    source_prefix ``["{source}"]``, target_prefix ``["{target}"]``.
    """

    codes: Mapping[str, str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    source_prefix: tuple[str, ...] = ()
    source_suffix: tuple[str, ...] = ()
    target_prefix: tuple[str, ...] = ("{target}",)

    def resolve(self, code: str) -> str | None:
        """The request code (a key of ``codes``) that ``code`` means here, or None."""
        return languages.match(code, self.codes, self.aliases)

    def route(self, source: str, target: str) -> TranslationRoute | None:
        """The route for ``source`` → ``target`` (request codes), or None if not served."""
        src = self.resolve(source)
        tgt = self.resolve(target)
        if src is None or tgt is None or src == tgt:
            return None
        tokens = {"source": self.codes[src], "target": self.codes[tgt]}
        return TranslationRoute(
            source_language=src,
            target_language=tgt,
            source_prefix=tuple(t.format(**tokens) for t in self.source_prefix),
            source_suffix=tuple(t.format(**tokens) for t in self.source_suffix),
            target_prefix=tuple(t.format(**tokens) for t in self.target_prefix),
        )

    def pairs(self) -> list[tuple[str, str]]:
        """Every (source, target) pair of distinct languages, in request codes."""
        names = sorted(self.codes)
        return [(s, t) for s in names for t in names if s != t]

    def to_dict(self) -> dict[str, Any]:
        return {
            "codes": dict(sorted(self.codes.items())),
            "aliases": dict(sorted(self.aliases.items())),
            "source_prefix": list(self.source_prefix),
            "source_suffix": list(self.source_suffix),
            "target_prefix": list(self.target_prefix),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LanguageCodes:
        codes = data.get("codes")
        if not isinstance(codes, dict) or len(codes) < 2:
            raise ManifestError("languages.codes must map at least two request codes to tokens")
        aliases = dict(data.get("aliases", {}))
        dangling = sorted(a for a, c in aliases.items() if c not in codes)
        if dangling:
            raise ManifestError(f"languages.aliases point to unknown codes: {dangling[:5]}")
        table = cls(
            codes=dict(codes),
            aliases=aliases,
            source_prefix=tuple(data.get("source_prefix", ())),
            source_suffix=tuple(data.get("source_suffix", ())),
            target_prefix=tuple(data.get("target_prefix", ("{target}",))),
        )
        for template in (*table.source_prefix, *table.source_suffix, *table.target_prefix):
            try:
                template.format(source="", target="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ManifestError(
                    f"languages: token template {template!r} may only use {{source}} and "
                    f"{{target}} ({exc})"
                ) from exc
        return table


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
    # Many-to-many translation between every two of these languages (besides `translation`).
    languages: LanguageCodes | None = None
    # Positions the decoder has (None: no limit, e.g. T5's relative positions). The decoder
    # start token and any forced target prefix use them up too; see `max_output_tokens`.
    max_decoder_positions: int | None = None
    # What `s2s convert --verify` found (see converters.verify); None when not verified.
    verification: dict[str, Any] | None = None

    def max_output_tokens(self, target_prefix: tuple[str, ...] = ()) -> int | None:
        """The largest ``max_length`` this model can generate after ``target_prefix``.

        The engine feeds the start token and then each forced or generated token back in, one
        position each, so ``max_length + len(target_prefix)`` must fit the decoder positions.
        """
        if self.max_decoder_positions is None:
            return None
        return max(0, self.max_decoder_positions - len(target_prefix))

    @property
    def translates(self) -> bool:
        return bool(self.translation or self.languages)

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
            "max_decoder_positions": self.max_decoder_positions,
            "languages": self.languages.to_dict() if self.languages else None,
            "verification": self.verification,
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
            languages=LanguageCodes.from_dict(data["languages"]) if data.get("languages") else None,
            max_decoder_positions=_optional_int(data, "max_decoder_positions"),
            verification=data.get("verification"),
        )
        if manifest.max_length_factor < 0 or manifest.max_length_offset < 0:
            raise ManifestError(
                f"model {manifest.name!r}: max_length_factor and max_length_offset must be >= 0"
            )
        if not manifest.translates and not manifest.summarization:
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


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ManifestError(f"{key} must be a positive integer or null, got {value!r}")
    return value


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
