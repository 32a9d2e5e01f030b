"""Documents for the tests and the benchmark: held-out demo sentences in a layout with every
whitespace shape (paragraphs, a bulleted list, tabs, trailing spaces, CRLF)."""

from __future__ import annotations

from demo_model.data import read_jsonl
from tests.fakes import DEMO_HELDOUT


def english(count: int, start: int = 0) -> list[str]:
    """Held-out demo sentences (the model translates them well, all distinct)."""
    texts = [e.text for e in read_jsonl(DEMO_HELDOUT) if e.task == "translate"]
    return list(dict.fromkeys(texts))[start : start + count]


def document(sentences: list[str], per_paragraph: int = 5) -> str:
    """Paragraphs separated by blank lines, one of them a bulleted list, CRLF in one place."""
    paragraphs = []
    for p in range(0, len(sentences), per_paragraph):
        chunk = sentences[p : p + per_paragraph]
        if p // per_paragraph == 1:
            paragraphs.append("\n".join(f"  - {s}" for s in chunk))
        elif p // per_paragraph == 2:
            paragraphs.append("\t" + " ".join(chunk) + "  \r\n")
        else:
            paragraphs.append(" ".join(chunk))
    return "\n\n".join(paragraphs) + "\n"
