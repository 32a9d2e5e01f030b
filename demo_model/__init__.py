"""The demo model: a small T5 trained from scratch on generated English→German and summarisation.

Modules: ``lexicon`` (controlled vocabulary), ``german`` (morphology), ``grammar_en_de``
(sentence pairs), ``reports`` (report → headline pairs), ``data`` (task mixture and splits),
``tokenizer`` (sentencepiece), ``train``, ``evaluate`` and ``build`` (the whole pipeline).
"""

TRANSLATE_PREFIX = "translate English to German: "
SUMMARIZE_PREFIX = "summarize: "
MODEL_NAME = "t5-demo"
