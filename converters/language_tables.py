"""Language tables of the many-to-many families, shipped as data (``language_tables/*.json``).

Each table maps the model's language codes (NLLB's 202 ``xxx_Scrp`` codes, M2M100's 100
codes, mBART-50's 52 ``xx_YY`` codes) to the BCP-47 codes requests use, plus aliases (ISO
639-3 codes, ``zh`` → ``zh-Hans``, ``no`` → ``nb``). The converter keeps the entries for the
languages the checkpoint's tokenizer actually has and writes them into the manifest, so the
server needs no table of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from converters.base import ConversionError, read_json_object
from service import languages
from service.manifest import LanguageCodes

TABLES_DIR = Path(__file__).resolve().parent / "language_tables"


@dataclass(frozen=True, slots=True)
class LanguageTable:
    name: str
    codes: dict[str, str]  # model language code → request code
    aliases: dict[str, str]  # request code → one of the request codes in ``codes``


def load_table(name: str) -> LanguageTable:
    data = json.loads((TABLES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return LanguageTable(name, dict(data["codes"]), dict(data["aliases"]))


def with_user_table(table: LanguageTable, path: Path | None) -> LanguageTable:
    """``table`` extended (and overridden) by ``--language-table FILE``: a JSON object of
    model code → request code, e.g. ``{"qya_Tngw": "qya"}``."""
    if path is None:
        return table
    data = read_json_object(path)
    bad = sorted(k for k, v in data.items() if not isinstance(v, str) or not v.strip())
    if bad:
        raise ConversionError(f"{path}: values must be request codes such as 'en'; see {bad[:5]}")
    return LanguageTable(table.name, {**table.codes, **data}, table.aliases)


def language_codes(
    table: LanguageTable,
    model_codes: Iterable[str],
    *,
    token_of: Callable[[str], str],
    source_prefix: tuple[str, ...] = (),
    source_suffix: tuple[str, ...] = (),
    target_prefix: tuple[str, ...] = ("{target}",),
    only: tuple[str, ...] = (),
    user_table: Path | None = None,
) -> LanguageCodes:
    """The manifest's ``languages`` for the codes a checkpoint has.

    ``token_of`` turns a model code into its vocabulary token (``en`` → ``__en__`` for M2M100).
    ``only`` restricts the served languages (``--languages``). Codes the table does not know
    fail the conversion: serving a language under a guessed name would be worse.
    """
    table = with_user_table(table, user_table)
    present = list(dict.fromkeys(model_codes))
    unknown = [c for c in present if c not in table.codes]
    if unknown:
        raise ConversionError(
            f"the {table.name} language table has no entry for the checkpoint's language "
            f"code(s) {unknown[:8]}; pass --language-table FILE with a JSON object mapping "
            'each to a BCP-47 request code (e.g. {"' + unknown[0] + '": "xx"})'
        )
    codes = {languages.canonical(table.codes[c]): token_of(c) for c in present}
    if only:
        keep: dict[str, str] = {}
        for wanted in only:
            found = languages.match(wanted, codes, table.aliases)
            if found is None:
                raise ConversionError(
                    f"--languages: {wanted!r} is not a language of this checkpoint; it has: "
                    f"{languages.summarize_codes(codes)}"
                )
            keep[found] = codes[found]
        codes = keep
    if len(codes) < 2:
        raise ConversionError(
            f"a many-to-many model needs at least two languages; found {sorted(codes)}"
        )
    aliases = {k: languages.canonical(v) for k, v in table.aliases.items()}
    aliases = {k: v for k, v in aliases.items() if v in codes and k not in codes}
    return LanguageCodes(
        codes=codes,
        aliases=aliases,
        source_prefix=source_prefix,
        source_suffix=source_suffix,
        target_prefix=target_prefix,
    )
