"""Request language codes: BCP-47 matching against a model's codes, never across scripts."""

import json
from pathlib import Path

import pytest

from service import languages

TABLES = Path(__file__).resolve().parents[2] / "converters" / "language_tables"


def table(name: str) -> tuple[set[str], dict[str, str]]:
    data = json.loads((TABLES / f"{name}.json").read_text())
    return {languages.canonical(c) for c in data["codes"].values()}, data["aliases"]


@pytest.mark.parametrize(
    ("requested", "served"),
    [
        ("en", "en"),
        ("EN_us", "en"),
        ("de-AT", "de"),
        ("pt-BR", "pt"),
        ("zh-Hant", "zh-Hant"),
        ("zh-TW", "zh-Hant"),  # the region implies the script
        ("zh-HK", "zh-Hant"),
        ("zh", "zh-Hans"),
        ("zh-CN", "zh-Hans"),
        ("sr", "sr-Cyrl"),
        ("sr-Cyrl-RS", "sr-Cyrl"),
        ("eng", "en"),  # ISO 639-3
        ("no", "nb"),
        ("fa-AF", "prs"),  # Dari has its own NLLB code
        ("ace", "ace-Latn"),
        ("ks", "ks-Arab"),
    ],
)
def test_nllb_request_codes(requested: str, served: str) -> None:
    codes, aliases = table("nllb200")
    assert languages.match(requested, codes, aliases) == served


@pytest.mark.parametrize("requested", ["sr-Latn", "xx", "", "zh-Latn", "klingon"])
def test_no_match_across_scripts_or_for_unknown_languages(requested: str) -> None:
    codes, aliases = table("nllb200")
    assert languages.match(requested, codes, aliases) is None


def test_m2m100_and_mbart50_tables() -> None:
    m2m, m2m_aliases = table("m2m100")
    assert len(m2m) == 100 and languages.match("nso", m2m, m2m_aliases) == "nso"
    assert languages.match("zh-TW", m2m, m2m_aliases) == "zh"  # M2M100 has one Chinese
    assert languages.match("nb", m2m, m2m_aliases) == "no"
    mbart, mbart_aliases = table("mbart50")
    assert len(mbart) == 52 and languages.match("zh", mbart, mbart_aliases) == "zh-Hans"
    assert languages.match("zh-Hant", mbart, mbart_aliases) is None  # mBART-50 has zh_CN only


def test_tables_have_unique_request_codes_and_resolvable_aliases() -> None:
    for name, size in (("nllb200", 202), ("m2m100", 100), ("mbart50", 52)):
        data = json.loads((TABLES / f"{name}.json").read_text())
        assert len(data["codes"]) == size
        assert len(set(data["codes"].values())) == size, name
        served = set(data["codes"].values())
        assert all(target in served for target in data["aliases"].values()), name


def test_canonical_casing_and_bounded_summaries() -> None:
    assert languages.canonical("zh_hant_tw") == "zh-Hant-TW"
    assert languages.canonical("EN") == "en"
    text = languages.summarize_codes([f"l{i:03d}" for i in range(202)])
    assert text.endswith("(202 languages; see ListModels)") and len(text) < 150
