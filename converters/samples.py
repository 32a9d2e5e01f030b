"""The default sample set of ``s2s convert --verify``: English texts from one word to a
paragraph, with digits, punctuation, quotes and a few non-ASCII characters.

Parity is about the conversion, not about quality, so any text the tokenizer can read will do;
``--verify-samples FILE`` (one text per line) uses the model's own domain instead.
"""

from __future__ import annotations

SENTENCES: tuple[str, ...] = (
    "Hello.",
    "Thank you very much.",
    "Where is the train station?",
    "The weather is nice today.",
    "She bought three apples and two pears at the market.",
    "Our meeting has been moved to Thursday at 10:30.",
    "The museum opens at nine and closes at six, except on Mondays.",
    "Please send the signed contract back before the end of the month.",
    "In 2023, the company reported revenue of 4.2 billion euros.",
    "The children played in the garden until it got dark.",
    'He said: "I will be there in twenty minutes."',
    "Can you recommend a good restaurant near the old town?",
    "The new bridge will reduce travel times between the two cities by half.",
    "Scientists have discovered a new species of frog in the rainforest.",
    "The library is closed for renovation until further notice.",
    "Prices rose by 3.5% in March, the highest increase in two years.",
    "My flight was delayed, so I missed the connection in Frankfurt.",
    "The committee will publish its final report next spring.",
    "Water boils at 100 degrees Celsius at sea level.",
    "The café on the corner serves the best crème brûlée in town.",
    "After the storm, hundreds of volunteers helped to clean the beaches.",
    "The software update fixes several security problems and improves battery life.",
    "Tickets cost 12 euros for adults and 6 euros for children under 14.",
    "The orchestra performed Beethoven's ninth symphony to a full house.",
    "Farmers are worried that the dry summer will damage this year's harvest.",
    "The city council approved a plan to plant 10,000 trees by 2030.",
    "Remember to back up your files before installing the new version.",
    "The hospital opened a new wing for children with rare diseases.",
    "Two astronauts returned to Earth after six months on the space station.",
    "The government announced new rules for electric scooters on Tuesday.",
)


def default_samples() -> list[str]:
    """64 texts: each sentence alone, then pairs, then paragraphs of three to eight."""
    out = list(SENTENCES)
    n = len(SENTENCES)
    for i in range(0, n - 1, 2):
        out.append(f"{SENTENCES[i]} {SENTENCES[i + 1]}")
    for size in range(3, 9):
        start = (size * 7) % n
        out.append(" ".join(SENTENCES[(start + k) % n] for k in range(size)))
    while len(out) < 64:
        out.append(SENTENCES[len(out) % n].upper())
    return out[:64]
