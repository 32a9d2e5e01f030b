"""Routing: explicit model names win; otherwise task + languages pick the model."""

import pytest

from service.errors import ModelNotFound, RouteNotFound
from service.manifest import (
    LanguageCodes,
    Manifest,
    SummarizationRoute,
    TokenizerSpec,
    TranslationRoute,
)
from service.routing import Router
from service.types import Task

SPEC = TokenizerSpec(kind="sentencepiece", source_file="spiece.model", target_file="spiece.model")


def manifest(name: str, pairs: list[tuple[str, str]], summarize: list[str]) -> Manifest:
    return Manifest(
        name=name,
        family="t5",
        tokenizer=SPEC,
        revision="sha256:" + "0" * 64,
        translation=tuple(TranslationRoute(s, t, f"{s}>{t}: {{text}}") for s, t in pairs),
        summarization=tuple(SummarizationRoute(lang) for lang in summarize),
    )


@pytest.fixture
def registry() -> Router:
    return Router(
        [
            manifest("b-en-de", [("en", "de")], []),
            manifest("a-multi", [("en", "fr"), ("fr", "en")], ["en"]),
            manifest("c-de-en", [("de", "en")], ["de"]),
        ]
    )


def test_routes_by_languages(registry: Router) -> None:
    model, route = registry.route(Task.TRANSLATE, model=None, source="en", target="de")
    assert model.name == "b-en-de"
    assert route.input_template == "en>de: {text}"


def test_regional_codes_fall_back_to_the_primary_language(registry: Router) -> None:
    model, _ = registry.route(Task.TRANSLATE, model=None, source="EN-gb", target="de_AT")
    assert model.name == "b-en-de"


def test_summarization_routes_by_language(registry: Router) -> None:
    assert registry.route(Task.SUMMARIZE, model=None, source="de")[0].name == "c-de-en"
    assert registry.route(Task.SUMMARIZE, model=None, source="en")[0].name == "a-multi"


def test_explicit_model_wins(registry: Router) -> None:
    model, _ = registry.route(Task.TRANSLATE, model="a-multi", source="fr", target="en")
    assert model.name == "a-multi"


def test_unknown_model_lists_served_models(registry: Router) -> None:
    with pytest.raises(ModelNotFound) as exc:
        registry.route(Task.TRANSLATE, model="nope", source="en", target="de")
    assert "a-multi, b-en-de, c-de-en" in exc.value.message


def test_unsupported_pair_names_what_is_offered(registry: Router) -> None:
    with pytest.raises(RouteNotFound) as exc:
        registry.route(Task.TRANSLATE, model=None, source="en", target="ja")
    assert "en→ja" in exc.value.message and "en→de" in exc.value.message


def test_explicit_model_without_the_pair(registry: Router) -> None:
    with pytest.raises(RouteNotFound) as exc:
        registry.route(Task.TRANSLATE, model="b-en-de", source="de", target="en")
    assert "it offers: en→de" in exc.value.message


def test_model_without_summarization(registry: Router) -> None:
    with pytest.raises(RouteNotFound):
        registry.route(Task.SUMMARIZE, model="b-en-de", source="en")


def many_to_many(name: str) -> Manifest:
    return Manifest(
        name=name,
        family="m2m_100",
        tokenizer=SPEC,
        revision="sha256:" + "0" * 64,
        languages=LanguageCodes(
            codes={"en": "eng_Latn", "de": "deu_Latn", "zh-Hant": "zho_Hant"},
            aliases={"zh-TW": "zh-Hant"},
            source_prefix=("{source}",),
        ),
    )


def test_many_to_many_model_serves_every_pair_with_its_language_tokens() -> None:
    router = Router([manifest("b-en-de", [("en", "de")], []), many_to_many("nllb")])
    model, route = router.route(Task.TRANSLATE, model=None, source="de-CH", target="zh-TW")
    assert model.name == "nllb"
    assert isinstance(route, TranslationRoute)
    assert (route.source_language, route.target_language) == ("de", "zh-Hant")
    assert route.source_prefix == ("deu_Latn",) and route.target_prefix == ("zho_Hant",)
    # a model with the explicit pair still wins by name order, as before
    assert router.route(Task.TRANSLATE, model=None, source="en", target="de")[0].name == "b-en-de"


def test_many_to_many_refusals_name_the_languages_boundedly() -> None:
    router = Router([many_to_many("nllb")])
    with pytest.raises(RouteNotFound) as exc:
        router.route(Task.TRANSLATE, model="nllb", source="en", target="en")
    assert "any two of de, en, zh-Hant" in exc.value.message
    with pytest.raises(RouteNotFound):
        router.route(Task.TRANSLATE, model=None, source="en", target="zh-Latn")  # no such script
