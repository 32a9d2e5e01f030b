"""Every family served by one real server: each reply is exactly the converted engine's output.

The expected outputs come from CTranslate2 directly (its Python API on the model directory,
with the tokens the manifest's route prescribes), never from the service's own code, so a
wrong language prefix, a forced token left in the reply or a default option not applied shows
up as a difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from service.client import ClientError, Seq2SeqClient
from service.manifest import Manifest, SummarizationRoute, TranslationRoute, load_manifest
from service.tokenization import load_tokenizer
from service.types import DecodingOptions
from tests.families import FamilyModel
from tests.serverproc import running_server

pytestmark = pytest.mark.slow

TEXTS = ["The weather is nice today.", "Where is the train station?", "Hello."]
GREEDY = DecodingOptions(beam_size=1, max_length=12)


@pytest.fixture(scope="module")
def client(
    family_models: dict[str, FamilyModel], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seq2SeqClient]:
    registry = family_models["t5"].model_dir.parent
    with (
        running_server(tmp_path_factory.mktemp("families-server"), models=registry) as server,
        Seq2SeqClient(server.target, timeout=120) as c,
    ):
        yield c


def engine(
    model_dir: Path, route: TranslationRoute | SummarizationRoute, text: str, **options: Any
) -> tuple[list[str], str]:
    """CTranslate2's own output for ``text`` on ``route``: (tokens with the forced prefix,
    the text after it)."""
    import ctranslate2

    manifest = load_manifest(model_dir)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    body = tokenizer.encode(route.input_template.format(text=text))
    source = [*route.source_prefix, *body, *route.source_suffix]
    prefix = list(route.target_prefix)
    translator = ctranslate2.Translator(str(model_dir), compute_type="int8")
    max_length = options.pop("max_length")
    min_length = options.pop("min_length", 0)
    result = translator.translate_batch(
        [source],
        [prefix] if prefix else None,
        max_decoding_length=max_length + len(prefix),
        min_decoding_length=min_length + len(prefix) if min_length else 0,
        **options,
    )
    tokens = list(result[0].hypotheses[0])
    assert tokens[: len(prefix)] == prefix  # the forced prefix is what the engine starts with
    return tokens, tokenizer.decode(tokens[len(prefix) :])


def engine_options(manifest: Manifest, request: DecodingOptions) -> dict[str, Any]:
    """The request's options over the model's defaults, as CTranslate2 keywords."""
    merged = request.merged_over(manifest.default_options).as_dict()
    allowed = {"beam_size", "max_length", "min_length", "length_penalty", "no_repeat_ngram_size",
               "repetition_penalty"}  # fmt: skip
    return {k: v for k, v in merged.items() if k in allowed}


def _route(manifest: Manifest, source: str = "en", target: str = "de") -> Any:
    if manifest.translation:
        return manifest.translation[0]
    if manifest.languages is not None:
        return manifest.languages.route(source, target)
    return manifest.summarization[0]


@pytest.mark.parametrize(
    "name",
    ["t5", "marian", "bart", "mbart", "pegasus", "m2m_100", "nllb", "own-post", "own-prenorm"],
)
def test_reply_is_the_engines_own_output(
    family_models: dict[str, FamilyModel], client: Seq2SeqClient, name: str
) -> None:
    model = family_models[name]
    manifest = model.manifest
    route = _route(manifest)
    texts = ["12345", "907", "4444412"] if model.family == "pytorch-transformer" else TEXTS
    options = engine_options(manifest, GREEDY)  # BART and Pegasus keep their other defaults
    for text in texts:  # one per call: an int8 batch with padding may decode a little apart
        if isinstance(route, TranslationRoute):
            result = client.translate(
                [text], route.source_language, route.target_language, model=manifest.name,
                options=GREEDY,
            )  # fmt: skip
        else:
            result = client.summarize([text], model=manifest.name, options=GREEDY)
        assert result.model == manifest.name
        reply = result.results[0]
        tokens, expected = engine(model.model_dir, route, text, **options)
        assert reply.text == expected
        assert reply.output_tokens == len(tokens) - len(route.target_prefix)


def test_nllb_forces_the_target_language_and_leaves_it_out_of_the_reply(
    family_models: dict[str, FamilyModel], client: Seq2SeqClient
) -> None:
    model = family_models["nllb"]
    for target, token in (("de-AT", "deu_Latn"), ("zh-TW", "zho_Hant"), ("fr", "fra_Latn")):
        route = model.manifest.languages.route("en-GB", target)  # type: ignore[union-attr]
        assert route is not None and route.target_prefix == (token,)
        assert route.source_prefix == ("eng_Latn",)
        reply = client.translate(
            TEXTS[:1], "en-GB", target, model="tiny-nllb", options=GREEDY
        ).results[0]
        tokens, expected = engine(model.model_dir, route, TEXTS[0], beam_size=1, max_length=12)
        assert tokens[0] == token  # in the engine call ...
        assert reply.text == expected and token not in reply.text  # ... not in the reply


def test_checkpoint_generation_defaults_apply_unless_overridden(
    family_models: dict[str, FamilyModel], client: Seq2SeqClient
) -> None:
    """BART summarises with its generation_config.json settings (beam 4, lengths 4..60,
    length penalty 2, no repeated trigram) and the forced <s>, as bart-large-cnn would."""
    model = family_models["bart"]
    route = model.manifest.summarization[0]
    reply = client.summarize(TEXTS[:1], model=model.manifest.name).results[0]
    defaults = {"beam_size": 4, "max_length": 60, "min_length": 4, "length_penalty": 2.0,
                "no_repeat_ngram_size": 3}  # fmt: skip
    tokens, expected = engine(model.model_dir, route, TEXTS[0], **defaults)
    assert tokens[0] == "<s>" and reply.text == expected
    greedy = DecodingOptions(beam_size=1, max_length=12, no_repeat_ngram_size=0, min_length=0)
    overridden = client.summarize(TEXTS[:1], model=model.manifest.name, options=greedy)
    expected = engine(model.model_dir, route, TEXTS[0], beam_size=1, max_length=12)[1]
    assert overridden.results[0].text == expected


def test_list_models_reports_languages_in_request_codes(
    family_models: dict[str, FamilyModel], client: Seq2SeqClient
) -> None:
    infos = {m.name: m for m in client.list_models()}
    nllb = infos["tiny-nllb"]
    assert len(nllb.translation_languages) == 202 and "zh-Hant" in nllb.translation_languages
    assert len(nllb.translation_pairs) == 202 * 201 and ("en", "de") in nllb.translation_pairs
    assert nllb.max_output_tokens == 255  # 256 positions, one for the forced language token
    assert len(infos["tiny-mbart"].translation_languages) == 52
    assert infos["tiny-marian"].translation_pairs == (("en", "de"),)
    assert infos["tiny-marian"].translation_languages == ()
    assert infos["tiny-t5"].max_output_tokens == 0  # relative positions: only the server cap
    assert all(m.ready for m in infos.values())


def test_unsupported_pair_names_what_is_served(client: Seq2SeqClient) -> None:
    with pytest.raises(ClientError) as exc:
        client.translate(TEXTS[:1], "en", "sr-Latn", model="tiny-nllb")  # NLLB has sr-Cyrl
    assert exc.value.code == grpc.StatusCode.NOT_FOUND
    assert "any two of" in exc.value.message and "202 languages" in exc.value.message
    assert len(exc.value.message) < 1000


def test_max_length_is_capped_by_the_decoders_positions(
    family_models: dict[str, FamilyModel], client: Seq2SeqClient
) -> None:
    """256 decoder positions, one forced language token: 255 generated tokens at most. Before
    #14 the default max_length (256) + the forced token crashed warm-up; the server is up."""
    import ctranslate2

    with pytest.raises(ClientError) as exc:
        client.translate(TEXTS[:1], "en", "de", model="tiny-nllb",
                         options=DecodingOptions(max_length=256))  # fmt: skip
    assert exc.value.code == grpc.StatusCode.INVALID_ARGUMENT
    ((field, description),) = exc.value.field_violations
    assert field == "options.max_length"
    assert "[1, 255]" in description and "256 positions" in description
    at_limit = DecodingOptions(max_length=255, min_length=255)
    reply = client.translate(TEXTS[:1], "en", "de", model="tiny-nllb", options=at_limit)
    assert reply.results[0].output_tokens == 255
    default = client.translate(TEXTS[:1], "en", "de", model="tiny-nllb")  # default 256 → 255
    assert default.results[0].output_tokens <= 255
    # What the cap prevents: the engine itself refuses to go past its position table.
    translator = ctranslate2.Translator(str(family_models["nllb"].model_dir))
    with pytest.raises(RuntimeError, match="position"):
        translator.translate_batch(
            [["eng_Latn", "▁Hello", "</s>"]], [["deu_Latn"]],
            max_decoding_length=257, min_decoding_length=257,
        )  # fmt: skip
