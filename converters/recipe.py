"""The conversion recipe every family shares (a template method), in a fixed order:

load the checkpoint → work out what it serves (tasks, languages, decoding defaults, length
limits) → write the engine files into a scratch directory next to the output → copy the
tokenizer → write the manifest with its revision → smoke-test → (``--verify``) parity with the
original model → move into place. A failed step leaves no half-written model directory where
the registry would load it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from converters.base import Checkpoint, ConversionError, ConvertOptions
from converters.base import FamilyConverter as Family
from converters.registry import detect_family
from converters.sidecar import ServingSpec, read_sidecar
from converters.verify import VerifyOptions, fail_unless_passed, smoke_test, verify_conversion
from converters.writers import writer_for
from service import languages as language_codes
from service.manifest import (
    LanguageCodes,
    Manifest,
    TranslationRoute,
    compute_revision,
    write_manifest,
)
from service.types import DecodingOptions, Segmentation


def convert_checkpoint(
    source: Path,
    output: Path,
    *,
    quantization: str | None = None,
    name: str | None = None,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
    family: str | None = None,
    engine: str = "ctranslate2",
    options: ConvertOptions | None = None,
    verify: VerifyOptions | None = None,
) -> Manifest:
    writer = writer_for(engine)
    quantization = quantization or writer.default_quantization
    if quantization not in writer.quantizations:
        raise ConversionError(
            f"quantization {quantization!r} is not one of {writer.quantizations} (engine {engine})"
        )
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not force:
        raise ConversionError(f"{output} exists and is not empty; pass --force to replace it")
    options = options or ConvertOptions()
    converter = detect_family(source, family, options)
    checkpoint = converter.load(source, options)
    languages = converter.language_codes(checkpoint)
    spec = _serving_spec(converter, checkpoint, overrides, languages)
    model_name = name or spec.name or output.name
    if not model_name:
        raise ConversionError("the model needs a name; pass --name")
    forced = converter.forced_prefix(checkpoint)
    translation = tuple(_complete(r, forced, languages) for r in spec.translation)
    summarization = tuple(
        r if r.target_prefix else replace(r, target_prefix=forced) for r in spec.summarization
    )
    positions = converter.max_decoder_positions(checkpoint)
    prefixes: list[tuple[str, ...]] = [r.target_prefix for r in translation]
    prefixes += [r.target_prefix for r in summarization]
    if languages is not None:
        prefixes.append(languages.target_prefix)
    provenance = {
        "source": source.name,
        "model_type": checkpoint.config.get("model_type", converter.family),
        "converted_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        **converter.versions(),
        **writer.versions(),
    }

    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        writer.write(converter, checkpoint, scratch, quantization)
        manifest = Manifest(
            name=model_name,
            family=converter.family,
            tokenizer=converter.copy_tokenizer(checkpoint, scratch),
            revision=compute_revision(scratch),
            engine=writer.engine,
            quantization=quantization,
            translation=translation,
            summarization=summarization,
            default_options=_fit_defaults(spec, positions, prefixes),
            max_input_tokens=spec.max_input_tokens or converter.max_input_tokens(checkpoint),
            description=spec.description,
            provenance=provenance,
            languages=languages,
            max_decoder_positions=positions,
            segmentation=Segmentation(converter.segmentation),
            max_length_factor=converter.max_length_factor,
        )
        write_manifest(scratch, manifest)
        smoke_test(scratch, writer)
        if verify is not None:
            report = verify_conversion(converter, checkpoint, writer, scratch, manifest, verify)
            manifest = replace(manifest, verification=report.to_dict())
            write_manifest(scratch, manifest)  # the revision covers every file but this one
            fail_unless_passed(report)
        if output.is_dir():
            shutil.rmtree(output)
        elif output.exists():
            output.unlink()
        scratch.rename(output)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return manifest


def _serving_spec(
    converter: Family,
    checkpoint: Checkpoint,
    overrides: dict[str, Any] | None,
    languages: LanguageCodes | None,
) -> ServingSpec:
    spec = converter.default_spec(checkpoint)
    sidecar = read_sidecar(checkpoint.directory)
    if sidecar is not None:
        spec = sidecar.merged_over(spec)
    if overrides:
        spec = ServingSpec.from_dict(overrides).merged_over(spec)
    if not spec.has_tasks and languages is None:
        raise ConversionError(
            f"{checkpoint.source} does not say what the model does: add serving.json or pass "
            "--task translation --source-language L --target-language L (or --task summarization)"
        )
    return spec


def _complete(
    route: TranslationRoute, forced: tuple[str, ...], languages: LanguageCodes | None
) -> TranslationRoute:
    """A declared route with the tokens the family needs (language codes, a forced BOS)."""
    if route.target_prefix or route.source_prefix or route.source_suffix:
        return route  # spelled out in serving.json: taken as written
    if languages is None:
        return replace(route, target_prefix=forced)
    found = languages.route(route.source_language, route.target_language)
    if found is None:
        raise ConversionError(
            f"translation {route.source_language}→{route.target_language}: the checkpoint's "
            f"languages are {language_codes.summarize_codes(languages.codes)}"
        )
    return replace(found, input_template=route.input_template)


def _fit_defaults(
    spec: ServingSpec, positions: int | None, prefixes: list[tuple[str, ...]]
) -> DecodingOptions:
    """The default options, with max_length no longer than the decoder can produce."""
    defaults = spec.default_options
    if positions is None or not prefixes:
        return defaults
    limit = positions - max(len(p) for p in prefixes)
    if defaults.max_length is not None and defaults.max_length > limit:
        return replace(defaults, max_length=limit)
    return defaults
