"""Routing: explicit model names win; otherwise task + languages pick the model."""

from pathlib import Path
from typing import Any, cast

import pytest

from service.errors import ModelNotFound, RouteNotFound
from service.manifest import Manifest, SummarizationRoute, TokenizerSpec, TranslationRoute
from service.model import ServedModel
from service.registry import Registry
from service.types import Task

SPEC = TokenizerSpec(kind="sentencepiece", source_file="spiece.model", target_file="spiece.model")


def served(name: str, pairs: list[tuple[str, str]], summarize: list[str]) -> ServedModel:
    manifest = Manifest(
        name=name,
        family="t5",
        tokenizer=SPEC,
        revision="sha256:" + "0" * 64,
        translation=tuple(TranslationRoute(s, t, f"{s}>{t}: {{text}}") for s, t in pairs),
        summarization=tuple(SummarizationRoute(lang) for lang in summarize),
    )
    none = cast(Any, None)
    return ServedModel(manifest, Path("."), manifest.revision, none, none, none)


@pytest.fixture
def registry() -> Registry:
    return Registry(
        [
            served("b-en-de", [("en", "de")], []),
            served("a-multi", [("en", "fr"), ("fr", "en")], ["en"]),
            served("c-de-en", [("de", "en")], ["de"]),
        ]
    )


def test_routes_by_languages(registry: Registry) -> None:
    model, route = registry.route(Task.TRANSLATE, model=None, source="en", target="de")
    assert model.name == "b-en-de"
    assert route.input_template == "en>de: {text}"


def test_regional_codes_fall_back_to_the_primary_language(registry: Registry) -> None:
    model, _ = registry.route(Task.TRANSLATE, model=None, source="EN-gb", target="de_AT")
    assert model.name == "b-en-de"


def test_summarization_routes_by_language(registry: Registry) -> None:
    assert registry.route(Task.SUMMARIZE, model=None, source="de")[0].name == "c-de-en"
    assert registry.route(Task.SUMMARIZE, model=None, source="en")[0].name == "a-multi"


def test_explicit_model_wins(registry: Registry) -> None:
    model, _ = registry.route(Task.TRANSLATE, model="a-multi", source="fr", target="en")
    assert model.name == "a-multi"


def test_unknown_model_lists_served_models(registry: Registry) -> None:
    with pytest.raises(ModelNotFound) as exc:
        registry.route(Task.TRANSLATE, model="nope", source="en", target="de")
    assert "a-multi, b-en-de, c-de-en" in exc.value.message


def test_unsupported_pair_names_what_is_offered(registry: Registry) -> None:
    with pytest.raises(RouteNotFound) as exc:
        registry.route(Task.TRANSLATE, model=None, source="en", target="ja")
    assert "en→ja" in exc.value.message and "en→de" in exc.value.message


def test_explicit_model_without_the_pair(registry: Registry) -> None:
    with pytest.raises(RouteNotFound) as exc:
        registry.route(Task.TRANSLATE, model="b-en-de", source="de", target="en")
    assert "it offers: en→de" in exc.value.message


def test_model_without_summarization(registry: Registry) -> None:
    with pytest.raises(RouteNotFound):
        registry.route(Task.SUMMARIZE, model="b-en-de", source="en")
