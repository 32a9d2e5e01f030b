"""``serving.json``: what a checkpoint is for, written by whoever trained it.

A Hugging Face checkpoint says nothing about the tasks it was trained on or how to prompt it.
The sidecar fills that gap (tasks, languages, input templates, default decoding options, input
length limit); the converter copies it into the manifest. Its task entries use the manifest's
own schema, so the two can never drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from service.manifest import ManifestError, SummarizationRoute, TranslationRoute
from service.types import DecodingOptions

SIDECAR_FILE = "serving.json"


@dataclass(frozen=True, slots=True)
class ServingSpec:
    """Tasks and defaults of a checkpoint; every field is optional and unset means "unknown"."""

    name: str | None = None
    description: str = ""
    translation: tuple[TranslationRoute, ...] = ()
    summarization: tuple[SummarizationRoute, ...] = ()
    default_options: DecodingOptions = field(default_factory=DecodingOptions)
    max_input_tokens: int | None = None

    @property
    def has_tasks(self) -> bool:
        return bool(self.translation or self.summarization)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "translation": [r.to_dict() for r in self.translation],
            "summarization": [r.to_dict() for r in self.summarization],
            "default_options": self.default_options.as_dict(),
        }
        if self.name:
            data["name"] = self.name
        if self.description:
            data["description"] = self.description
        if self.max_input_tokens is not None:
            data["max_input_tokens"] = self.max_input_tokens
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServingSpec:
        known = {
            "name", "description", "translation", "summarization", "default_options",
            "max_input_tokens",
        }  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise ManifestError(
                f"{SIDECAR_FILE}: unknown key(s) {unknown}; expected one of: {sorted(known)}"
            )
        try:
            defaults = DecodingOptions.from_dict(data.get("default_options", {}))
        except ValueError as exc:
            raise ManifestError(f"{SIDECAR_FILE}: default_options: {exc}") from exc
        max_tokens = data.get("max_input_tokens")
        return cls(
            name=data.get("name"),
            description=data.get("description", ""),
            translation=tuple(TranslationRoute.from_dict(r) for r in data.get("translation", [])),
            summarization=tuple(
                SummarizationRoute.from_dict(r) for r in data.get("summarization", [])
            ),
            default_options=defaults,
            max_input_tokens=int(max_tokens) if max_tokens is not None else None,
        )

    def merged_over(self, base: ServingSpec) -> ServingSpec:
        """This spec, with what it leaves unset taken from ``base`` (overrides win)."""
        return replace(
            base,
            name=self.name or base.name,
            description=self.description or base.description,
            translation=self.translation or base.translation,
            summarization=self.summarization or base.summarization,
            default_options=self.default_options.merged_over(base.default_options),
            max_input_tokens=(
                self.max_input_tokens
                if self.max_input_tokens is not None
                else base.max_input_tokens
            ),
        )


def read_sidecar(checkpoint_dir: Path) -> ServingSpec | None:
    path = checkpoint_dir / SIDECAR_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{path} must hold a JSON object")
    return ServingSpec.from_dict(data)


def write_sidecar(checkpoint_dir: Path, spec: ServingSpec) -> None:
    text = json.dumps(spec.to_dict(), indent=2, ensure_ascii=False) + "\n"
    (checkpoint_dir / SIDECAR_FILE).write_text(text, encoding="utf-8")
