"""`s2s translate`, `summarize` and `models` against the running server, as users type them."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.serverproc import ROOT, ServerProcess


def s2s(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_translate_prints_one_line_per_text(demo_server: ServerProcess) -> None:
    proc = s2s("translate", "--target", demo_server.target, "--from", "en", "--to", "de",
               "The dog sleeps.", "It is raining.")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all(lines)


def test_translate_reads_stdin_and_prints_n_best_with_scores(demo_server: ServerProcess) -> None:
    proc = s2s("translate", "--target", demo_server.target, "--from", "en", "--to", "de",
               "--beam", "4", "--n-best", "3", "--scores", stdin="The dog sleeps.\n")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines() if line]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    scores = [float(r[1]) for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_summarize_and_models_as_json(demo_server: ServerProcess) -> None:
    proc = s2s("summarize", "--target", demo_server.target, "--json",
               "A fire destroyed a cinema in Bristol on Saturday. Nobody was injured.")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["model"] == "t5-demo" and result["results"][0]["text"]
    proc = s2s("models", "--target", demo_server.target)
    assert proc.returncode == 0 and "t5-demo" in proc.stdout


def test_bad_input_exits_non_zero_with_the_field_named(demo_server: ServerProcess) -> None:
    proc = s2s("translate", "--target", demo_server.target, "--from", "en", "--to", "de",
               "--beam", "0", "The dog sleeps.")  # fmt: skip
    assert proc.returncode == 1
    assert "beam_size" in proc.stderr and "Traceback" not in proc.stderr
    # said once: a violation the message already names is not repeated below it
    assert proc.stderr.count("options.beam_size: must be in [1, 8], got 0") == 1, proc.stderr


def test_violations_the_bounded_message_leaves_out_are_listed(demo_server: ServerProcess) -> None:
    over_long = "The dog sleeps in the garden and the cat sleeps on the chair. " * 60
    texts = [f"{over_long}{i}" for i in range(12)]
    proc = s2s("translate", "--target", demo_server.target, "--from", "en", "--to", "de",
               "--segmentation", "none", *texts)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    # the server details the first ten and counts the rest; the CLI shows each of them whole,
    # once (in the bounded message, or below it when the message was cut short)
    whole = re.findall(r"texts\[(\d+)\]: is \d+ tokens long [^\n]*?segmentation AUTO", proc.stderr)
    assert sorted(map(int, whole)) == list(range(10)), proc.stderr
    assert "and 2 more violations" in proc.stderr, proc.stderr


THREE_PARAGRAPHS = (
    "The teacher reads a book. The dog sleeps in the garden.\n"
    "\n"
    "My sister buys three red apples today.\n"
    "\n"
    "The old man sees the small dog. The woman calls the doctor.\n"
)


def test_a_pasted_document_keeps_its_paragraphs_with_and_without_from(
    demo_server: ServerProcess,
) -> None:
    base = ("translate", "--target", demo_server.target, "--to", "de")
    given = s2s(*base, "--from", "en", stdin=THREE_PARAGRAPHS)
    detected = s2s(*base, stdin=THREE_PARAGRAPHS)
    streamed = s2s(*base, "--from", "en", "--stream", stdin=THREE_PARAGRAPHS)
    for proc in (given, detected, streamed):
        assert proc.returncode == 0, proc.stderr
    paragraphs = given.stdout.split("\n\n")
    assert len(paragraphs) == 3 and all(p.strip() for p in paragraphs)
    assert given.stdout.count("\n") == THREE_PARAGRAPHS.count("\n")
    assert given.stdout.startswith("Der Lehrer liest ein Buch.")
    assert detected.stdout == given.stdout == streamed.stdout


def test_lines_mode_sends_one_text_per_line(demo_server: ServerProcess) -> None:
    proc = s2s("translate", "--target", demo_server.target, "--from", "en", "--to", "de",
               "--lines", "--json", stdin=THREE_PARAGRAPHS)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["results"]) == 3


def test_an_undetectable_text_asks_for_from(demo_server: ServerProcess) -> None:
    proc = s2s("translate", "--target", demo_server.target, "--to", "de", "qwrtz plmk vbnx")
    assert proc.returncode == 1
    assert "set source_language" in proc.stderr
