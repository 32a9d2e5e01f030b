"""Checks a converted model directory before it is moved into place.

`smoke_test` (always): the engine loads, the tokenizer's pieces exist in the engine vocabulary
(a mismatch would silently turn every input into ``<unk>``), a short input decodes.

`verify_conversion` (``s2s convert --verify``): parity with the original model on a sample set,
through the path the server takes (the manifest's route, the server's tokenizer and engine):

1. tokenizer: the server's token ids equal the original tokenizer's, sample by sample;
2. float32: the converted model decodes greedily exactly the tokens the original model does,
   with all samples in one batch and each alone; any difference fails the conversion;
3. the requested quantization (when not float32): how many samples agree token for token,
   and the mean chrF of its outputs against the original's (quantization changes numbers, so
   this is reported, not enforced).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converters.base import Checkpoint, ConversionError, FamilyConverter
from converters.reference import Route
from converters.samples import default_samples
from service.engines.base import EngineInput
from service.manifest import Manifest, load_manifest
from service.tokenization import Tokenizer, load_tokenizer
from service.types import ResolvedOptions

if TYPE_CHECKING:
    from converters.writers import EngineWriter

SAMPLE = "The weather is nice today, and 42 people are in the park."
BATCH = 16  # samples per engine call in the batched pass


class VerificationError(ConversionError):
    """The converted model does not do what the original does; the message says how."""


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    samples_file: Path | None = None  # one text per line; default: converters.samples
    max_length: int = 32  # generated tokens per sample
    max_samples: int = 64
    # CPU threads for both models (0: up to four). Small models decode fastest on one, and
    # on a busy machine extra threads only spin.
    threads: int = 0


@dataclass(slots=True)
class Parity:
    """Agreement of one pass with the original model."""

    agree: int = 0
    total: int = 0
    first_difference: str = ""

    @property
    def exact(self) -> bool:
        return self.agree == self.total

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"agree": self.agree, "total": self.total}
        if self.first_difference:
            out["first_difference"] = self.first_difference
        return out


@dataclass(slots=True)
class Report:
    reference: str
    route: str
    samples: int
    max_length: int
    tokenizer: Parity | None = None
    float32_batched: Parity = field(default_factory=Parity)
    float32_alone: Parity = field(default_factory=Parity)
    quantized: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        tokenizer_ok = self.tokenizer is None or self.tokenizer.exact
        return tokenizer_ok and self.float32_batched.exact and self.float32_alone.exact

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reference": self.reference,
            "route": self.route,
            "samples": self.samples,
            "max_length": self.max_length,
            "tokenizer": self.tokenizer.to_dict() if self.tokenizer else None,
            "float32": {
                "batched": self.float32_batched.to_dict(),
                "alone": self.float32_alone.to_dict(),
            },
            "quantized": self.quantized,
            "verified_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }


def smoke_test(model_dir: Path, writer: EngineWriter) -> None:
    manifest = load_manifest(model_dir)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    tokens = tokenizer.encode(SAMPLE)
    vocabulary = set(writer.vocabularies(model_dir)[0])
    missing = [t for t in tokens if t not in vocabulary]
    if len(missing) > len(tokens) // 2:
        raise VerificationError(
            f"{len(missing)} of {len(tokens)} tokenizer pieces are not in the engine vocabulary "
            f"(e.g. {missing[:5]}); the tokenizer files do not match the model"
        )
    try:
        engine = writer.open(model_dir, "default")
        output = engine.generate([EngineInput(tuple(tokens))], ResolvedOptions(max_length=4))
        engine.close()
    except (RuntimeError, ValueError) as exc:
        raise VerificationError(f"the engine cannot run the converted model: {exc}") from exc
    if not output or not output[0].hypotheses:
        raise VerificationError("the converted model produced no output for a sample input")


def verify_conversion(
    family: FamilyConverter,
    checkpoint: Checkpoint,
    writer: EngineWriter,
    model_dir: Path,
    manifest: Manifest,
    options: VerifyOptions,
) -> Report:
    """Compare the converted model in ``model_dir`` with the original (see module docstring).

    For a quantized model a float32 copy is converted next to it for the exact comparison and
    removed afterwards.
    """
    route, route_name = verification_route(manifest)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    reference = family.reference(checkpoint)
    texts = _samples(options, manifest, tokenizer, route)
    report = Report(reference.description, route_name, len(texts), options.max_length)
    float32_dir = model_dir
    if manifest.quantization != "float32":
        float32_dir = Path(tempfile.mkdtemp(prefix=".verify-float32.", dir=model_dir.parent))
    try:
        if float32_dir != model_dir:
            writer.write(family, checkpoint, float32_dir, "float32")
        source_vocab, target_vocab = writer.vocabularies(float32_dir)
        src_index = {t: i for i, t in enumerate(source_vocab)}
        tgt_index = {t: i for i, t in enumerate(target_vocab)}
        unk = src_index.get("<unk>", 0)
        ours = [_route_tokens(tokenizer, route, text) for text in texts]
        our_ids = [[src_index.get(t, unk) for t in tokens] for tokens in ours]
        theirs = [reference.source_ids(text, route) for text in texts]
        if all(ids is not None for ids in theirs):
            report.tokenizer = _compare(
                [list(t or ()) for t in theirs], our_ids, source_vocab, texts, "tokenizer"
            )
            if not report.tokenizer.exact:
                raise VerificationError(
                    "the tokenizer does not match the model's original tokenizer on "
                    f"{report.tokenizer.total - report.tokenizer.agree} of {len(texts)} samples "
                    f"({report.tokenizer.first_difference}); check the tokenizer files"
                )
        prefix_ids = [tgt_index[t] for t in route.target_prefix]
        with _torch_threads(options.threads):
            expected = [reference.greedy(ids, prefix_ids, options.max_length) for ids in our_ids]
        inputs = [EngineInput(tuple(tokens), route.target_prefix) for tokens in ours]
        engine = writer.open(float32_dir, "float32", options.threads)
        batched = _decode(engine, inputs, options.max_length, BATCH, tgt_index)
        alone = _decode(engine, inputs, options.max_length, 1, tgt_index)
        engine.close()
        report.float32_batched = _compare(expected, batched, target_vocab, texts, "batched")
        report.float32_alone = _compare(expected, alone, target_vocab, texts, "alone")
        if manifest.quantization != "float32":
            report.quantized = _quantized(
                writer, model_dir, manifest.quantization, inputs, expected, options, tokenizer
            )
    finally:
        if float32_dir != model_dir:
            shutil.rmtree(float32_dir, ignore_errors=True)
    return report


def verification_route(manifest: Manifest) -> tuple[Route, str]:
    """The route the samples go through: the first declared one, else a many-to-many pair
    (en→de when the model has both)."""
    if manifest.translation:
        r = manifest.translation[0]
        return r, f"{r.source_language}→{r.target_language}"
    if manifest.languages is not None:
        codes = manifest.languages
        route = codes.route("en", "de")
        if route is None:
            first, second = sorted(codes.codes)[:2]
            route = codes.route(first, second)
        assert route is not None  # two distinct codes always make a route
        return route, f"{route.source_language}→{route.target_language}"
    s = manifest.summarization[0]
    return s, f"summarize {s.language}"


def fail_unless_passed(report: Report) -> None:
    if report.passed:
        return
    details = "; ".join(
        f"{name}: {p.agree}/{p.total} ({p.first_difference})"
        for name, p in (("batched", report.float32_batched), ("alone", report.float32_alone))
        if not p.exact
    )
    raise VerificationError(
        "the float32 conversion does not decode like the original model "
        f"({report.reference}, {report.samples} samples, {report.route}): {details}\n"
        + format_table(report.to_dict())
    )


def format_table(result: dict[str, Any]) -> str:
    """The parity table ``s2s convert --verify`` prints (from the manifest's record)."""
    lines = [
        f"parity with the original model: {result['reference']}, {result['samples']} samples, "
        f"{result['route']}, up to {result['max_length']} tokens each",
        f"  {'check':<28}{'agree':>7}{'of':>5}  note",
    ]

    def row(name: str, p: dict[str, Any], note: str) -> None:
        lines.append(f"  {name:<28}{p['agree']:>7}{p['total']:>5}  {note}")

    if result.get("tokenizer"):
        row("tokenizer (token ids)", result["tokenizer"], "same ids as the original tokenizer")
    for mode in ("batched", "alone"):
        p = result["float32"][mode]
        row(f"float32, {mode}", p, "token for token" if p["agree"] == p["total"] else "FAILED")
    quantized = result.get("quantized")
    if quantized:
        row(
            f"{quantized['quantization']} (runs {quantized['compute_type']})",
            quantized,
            f"mean chrF {quantized['mean_chrf']:.1f} vs the original",
        )
    lines.append("  result: " + ("PASSED" if result["passed"] else "FAILED"))
    return "\n".join(lines)


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Run the original model on ``threads`` CPU threads (0: leave torch's setting)."""
    if not threads:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _route_tokens(tokenizer: Tokenizer, route: Route, text: str) -> list[str]:
    """What the server sends the engine for ``text`` on ``route``."""
    body = tokenizer.encode(route.input_template.format(text=text))
    return [*route.source_prefix, *body, *route.source_suffix]


def _samples(
    options: VerifyOptions, manifest: Manifest, tokenizer: Tokenizer, route: Route
) -> list[str]:
    if options.samples_file is not None:
        try:
            lines = options.samples_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConversionError(f"cannot read --verify-samples: {exc}") from exc
        texts = [line.strip() for line in lines if line.strip()]
    else:
        texts = default_samples()
    fitting = [
        t for t in texts if len(_route_tokens(tokenizer, route, t)) <= manifest.max_input_tokens
    ]
    if not fitting:
        raise ConversionError("no verification sample fits the model's input length")
    return fitting[: options.max_samples]


def _decode(
    engine: Any,
    inputs: list[EngineInput],
    max_length: int,
    batch: int,
    index: dict[str, int],
) -> list[list[int]]:
    options = ResolvedOptions(beam_size=1, max_length=max_length)
    out: list[list[int]] = []
    for start in range(0, len(inputs), batch):
        for output in engine.generate(inputs[start : start + batch], options):
            out.append([index[t] for t in output.hypotheses[0].tokens])
    return out


def _compare(
    expected: Sequence[list[int]],
    got: Sequence[list[int]],
    vocab: list[str],
    texts: list[str],
    what: str,
) -> Parity:
    parity = Parity(total=len(expected))
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        if a == b:
            parity.agree += 1
        elif not parity.first_difference:
            k = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
            original = _token(vocab, a, k)
            converted = _token(vocab, b, k)
            parity.first_difference = (
                f"{what}: sample {i} ({texts[i][:40]!r}) differs at token {k}: original "
                f"{original}, converted {converted}"
            )
    return parity


def _token(vocab: list[str], ids: list[int], k: int) -> str:
    if k >= len(ids):
        return "<end>"
    i = ids[k]
    return f"{vocab[i]!r} (id {i})" if 0 <= i < len(vocab) else f"id {i}"


def _quantized(
    writer: EngineWriter,
    model_dir: Path,
    quantization: str,
    inputs: list[EngineInput],
    expected: list[list[int]],
    options: VerifyOptions,
    tokenizer: Tokenizer,
) -> dict[str, Any]:
    from sacrebleu.metrics.chrf import CHRF

    _, target_vocab = writer.vocabularies(model_dir)
    index = {t: i for i, t in enumerate(target_vocab)}
    engine = writer.open(model_dir, "default", options.threads)
    compute_type = engine.info.compute_type
    got = _decode(engine, inputs, options.max_length, BATCH, index)
    engine.close()
    n_prefix = len(inputs[0].target_prefix) if inputs else 0
    chrf = CHRF()
    scores = []
    agree = 0
    for a, b in zip(expected, got, strict=True):
        agree += a == b
        ref = tokenizer.decode([target_vocab[i] for i in a[n_prefix:]])
        hyp = tokenizer.decode([target_vocab[i] for i in b[n_prefix:]])
        scores.append(100.0 if ref == hyp else chrf.sentence_score(hyp, [ref]).score)
    return {
        "quantization": quantization,
        "compute_type": compute_type,
        "agree": agree,
        "total": len(expected),
        "mean_chrf": round(sum(scores) / max(1, len(scores)), 2),
    }
