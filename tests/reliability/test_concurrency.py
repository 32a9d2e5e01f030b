"""Many concurrent callers with mixed options get exactly what they would get alone."""

from __future__ import annotations

import asyncio
import random

from service.client import AsyncSeq2SeqClient, Seq2SeqClient
from service.types import DecodingOptions
from tests.serverproc import ServerProcess

SENTENCES = [
    "The old man sees the small dog.",
    "The woman buys three red apples.",
    "Today the children play in the garden.",
    "The teacher calls the doctor because the boy is ill.",
    "My brother reads a new book.",
    "The cat sleeps on the big table.",
]
OPTION_MIX = [
    DecodingOptions(beam_size=1),
    DecodingOptions(beam_size=2),
    DecodingOptions(beam_size=4, num_hypotheses=2),
    DecodingOptions(beam_size=1, max_length=4),
    DecodingOptions(beam_size=3, length_penalty=0.5),
]


def test_concurrent_mixed_requests_match_their_solo_outputs(demo_server: ServerProcess) -> None:
    rng = random.Random(1234)
    calls = []
    for _ in range(60):
        texts = rng.sample(SENTENCES, rng.randint(1, 3))
        calls.append((texts, rng.choice(OPTION_MIX)))

    with Seq2SeqClient(demo_server.target, timeout=120) as client:
        solo = [
            [tuple(h.text for h in r.hypotheses) for r in
             client.translate(texts, "en", "de", options=options).results]
            for texts, options in calls
        ]  # fmt: skip

    async def together() -> list[list[tuple[str, ...]]]:
        async with AsyncSeq2SeqClient(demo_server.target, timeout=300) as aclient:
            results = await asyncio.gather(
                *(aclient.translate(texts, "en", "de", options=options) for texts, options in calls)
            )
        return [[tuple(h.text for h in r.hypotheses) for r in res.results] for res in results]

    assert asyncio.run(together()) == solo
