"""The original model, decoding greedily: what ``s2s convert --verify`` compares against.

A reference speaks token ids of the engine's vocabulary. `source_ids` is the original
tokenizer's view of an input (so a tokenizer that does not match the model is caught before
any decoding), `greedy` the original model's output: the forced prefix, then at most
``max_length`` generated ids, without the decoder start token and without the end token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from service.manifest import SummarizationRoute, TranslationRoute

if TYPE_CHECKING:
    import torch

Route = TranslationRoute | SummarizationRoute


class Reference(Protocol):
    description: str  # e.g. "transformers 4.57.6 generate (greedy)"

    def source_ids(self, text: str, route: Route) -> list[int] | None:
        """The original tokenizer's ids for ``text`` on ``route`` (None: the family has no
        tokenizer besides the one the server uses)."""

    def greedy(self, source_ids: list[int], prefix_ids: list[int], max_length: int) -> list[int]:
        """Greedy decoding by the original model (see the module docstring)."""


def greedy_loop(
    step: Any,
    source_ids: list[int],
    *,
    start_ids: list[int],
    prefix_ids: list[int],
    eos_id: int,
    max_length: int,
) -> list[int]:
    """The smallest greedy decoder: ``step(source, target) -> logits [1, T, V]``, run again on
    the whole target at each step (no cache: verification runs few short samples).

    Returns the prefix and the generated ids, stopping before ``eos_id``.
    """
    import torch

    source = torch.tensor([source_ids], dtype=torch.long)
    target = list(start_ids) + list(prefix_ids)
    generated: list[int] = []
    with torch.inference_mode():
        for _ in range(max_length):
            logits: torch.Tensor = step(source, torch.tensor([target], dtype=torch.long))
            next_id = int(logits[0, -1].argmax())
            if next_id == eos_id:
                break
            generated.append(next_id)
            target.append(next_id)
    return list(prefix_ids) + generated
