"""Request language codes (BCP-47 / ISO 639) matched against the codes a model serves.

Callers write ``en``, ``de-AT``, ``pt-BR``, ``zh-Hant`` or ``zh-TW``; a many-to-many model
(mBART-50, M2M100, NLLB-200) names its languages its own way (``en_XX``, ``__en__``,
``eng_Latn``). The converter writes the model's table of request codes into the manifest; this
module decides which of those codes a request means. Matching is case-insensitive and falls
back from the most specific form to the language alone, so ``de-AT`` is served by ``de`` and
``zh-TW`` by ``zh-Hant``; it never guesses across languages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

_SCRIPT = re.compile(r"^[a-z]{4}$")
_REGION = re.compile(r"^([a-z]{2}|[0-9]{3})$")

# Regions that imply a script for languages written in more than one (CLDR likely subtags).
_IMPLIED_SCRIPT: dict[tuple[str, str], str] = {
    ("zh", "tw"): "hant",
    ("zh", "hk"): "hant",
    ("zh", "mo"): "hant",
    ("zh", "cn"): "hans",
    ("zh", "sg"): "hans",
    ("sr", "rs"): "cyrl",
    ("sr", "me"): "latn",
    ("uz", "af"): "arab",
    ("pa", "pk"): "arab",
}


def normalize(code: str) -> str:
    """``EN_us`` → ``en-us``: the form codes are compared in."""
    return code.strip().replace("_", "-").lower()


def canonical(code: str) -> str:
    """BCP-47 casing: ``zh-hant-tw`` → ``zh-Hant-TW`` (for display and manifests)."""
    parts = normalize(code).split("-")
    out = [parts[0]]
    for part in parts[1:]:
        if _SCRIPT.match(part):
            out.append(part.title())
        elif _REGION.match(part):
            out.append(part.upper())
        else:
            out.append(part)
    return "-".join(out)


def fallbacks(code: str) -> Iterator[str]:
    """The forms of ``code`` to try, most specific first (normalized, without repeats).

    ``zh-TW`` → ``zh-tw``, ``zh-hant-tw``, ``zh-hant``, ``zh``; ``pt-BR`` → ``pt-br``, ``pt``.
    """
    parts = normalize(code).split("-")
    language = parts[0]
    script = script_of(code)
    region = next((p for p in parts[1:] if _REGION.match(p)), None)
    seen: set[str] = set()
    candidates = ["-".join(parts)]
    if script and region:
        candidates.append(f"{language}-{script}-{region}")
    if script:
        candidates.append(f"{language}-{script}")
    if region:
        candidates.append(f"{language}-{region}")
    candidates.append(language)
    for candidate in candidates:
        if candidate not in seen:
            seen.add(candidate)
            yield candidate


def match(
    requested: str, served: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str | None:
    """The served code a request means, or None.

    ``served`` holds the model's request codes, ``aliases`` maps other codes to one of them
    (``zh`` → ``zh-Hans``, ``eng`` → ``en``). Each fallback form is tried against the served
    codes and then the aliases before the next, less specific form is tried. A fallback never
    changes the script: ``sr-Latn`` is not served by a model whose Serbian is ``sr-Cyrl``.
    """
    if not requested.strip():
        return None
    by_norm = {normalize(c): c for c in served}
    alias_norm = {normalize(k): v for k, v in (aliases or {}).items()}
    wanted_script = script_of(requested)
    for depth, form in enumerate(fallbacks(requested)):
        found = by_norm.get(form)
        if found is None and form in alias_norm:
            found = by_norm.get(normalize(alias_norm[form]))
            if found is not None and depth == 0:
                return found  # an alias of exactly what was asked is an explicit mapping
        if found is None:
            continue
        served_script = script_of(found)
        if wanted_script and served_script and wanted_script != served_script:
            continue
        return found
    return None


def script_of(code: str) -> str | None:
    """The script a code names or implies (``zh-TW`` → ``hant``), or None."""
    parts = normalize(code).split("-")
    script = next((p for p in parts[1:] if _SCRIPT.match(p)), None)
    if script is None:
        region = next((p for p in parts[1:] if _REGION.match(p)), None)
        if region is not None:
            script = _IMPLIED_SCRIPT.get((parts[0], region))
    return script


def summarize_codes(codes: Iterable[str], limit: int = 12) -> str:
    """``en, de, fr, ... (202 languages)``: a bounded list for error messages."""
    items = sorted(codes)
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])}, ... ({len(items)} languages; see ListModels)"
