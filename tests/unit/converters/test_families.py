"""Every family converts, and ``--verify`` proves the result decodes like the original.

The checkpoints are tiny and random (tests/families.py builds and converts them once per
session, verification on). What users rely on: float32 parity token for token on 50+ inputs,
batched and alone; the manifest says how each family expresses languages, which decoding
defaults the checkpoint ships and how long its outputs may be; and every way a checkpoint can
be wrong ends with exit status 2, a message, and no model directory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from service.cli import main as s2s
from service.manifest import compute_revision, load_manifest
from tests.families import FamilyModel

pytestmark = pytest.mark.slow

ALL = ["t5", "marian", "bart", "mbart", "pegasus", "m2m_100", "nllb", "own-post", "own-prenorm"]


@pytest.mark.parametrize("name", ALL)
def test_float32_matches_the_original_token_for_token(
    family_models: dict[str, FamilyModel], name: str
) -> None:
    model = family_models[name]
    result = model.manifest.verification
    assert result is not None and result["passed"] is True
    assert result["samples"] >= 50
    for mode in ("batched", "alone"):
        assert result["float32"][mode]["agree"] == result["float32"][mode]["total"] >= 50
    if model.family != "pytorch-transformer":  # HF families also prove the tokenizer
        assert result["tokenizer"]["agree"] == result["tokenizer"]["total"] >= 50
        assert result["reference"].startswith("transformers ")
    quantized = result["quantized"]
    assert quantized["quantization"] == "int8" and quantized["total"] == result["samples"]
    assert 0 <= quantized["agree"] <= quantized["total"] and 0 <= quantized["mean_chrf"] <= 100
    on_disk = load_manifest(model.model_dir)
    assert on_disk.verification == result
    assert on_disk.revision == compute_revision(model.model_dir)
    assert on_disk.engine == "ctranslate2"


@pytest.mark.parametrize(
    ("name", "count", "request_code", "token"),
    [
        ("mbart", 52, "en", "en_XX"),
        ("m2m_100", 100, "nso", "__ns__"),
        ("nllb", 202, "zh-Hant", "zho_Hant"),
    ],
)
def test_many_to_many_families_record_their_language_codes(
    family_models: dict[str, FamilyModel], name: str, count: int, request_code: str, token: str
) -> None:
    languages = family_models[name].manifest.languages
    assert languages is not None and len(languages.codes) == count
    assert languages.codes[request_code] == token
    route = languages.route("de-AT", request_code)
    assert route is not None and route.target_prefix == (token,)
    assert route.source_prefix == (languages.codes["de"],)  # source code before the text


def test_single_pair_families_have_no_language_table(
    family_models: dict[str, FamilyModel],
) -> None:
    for name in ("t5", "marian", "bart", "pegasus", "own-post"):
        assert family_models[name].manifest.languages is None


def test_generation_config_becomes_the_default_options(
    family_models: dict[str, FamilyModel],
) -> None:
    bart = family_models["bart"].manifest
    options = bart.default_options
    # bart-large-cnn style: num_beams 4, max_length 62 (start + forced <s> + 60), min_length 6
    assert (options.beam_size, options.max_length, options.min_length) == (4, 60, 4)
    assert (options.length_penalty, options.no_repeat_ngram_size) == (2.0, 3)
    assert bart.summarization[0].target_prefix == ("<s>",)  # forced BOS, stripped from replies
    pegasus = family_models["pegasus"].manifest.default_options
    assert (pegasus.beam_size, pegasus.max_length, pegasus.length_penalty) == (8, 63, 0.6)


def test_decoder_position_limits_are_recorded(family_models: dict[str, FamilyModel]) -> None:
    for name in ("marian", "bart", "mbart", "pegasus", "m2m_100", "nllb"):
        assert family_models[name].manifest.max_decoder_positions == 256, name
    assert family_models["t5"].manifest.max_decoder_positions is None  # relative positions
    assert family_models["own-post"].manifest.max_decoder_positions == 64


def _fails(args: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    code = s2s(["convert", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def test_mismatched_tokenizer_fails_verification(
    family_models: dict[str, FamilyModel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """T5 with a spiece.model from another training than its tokenizer.json."""
    from demo_model.tokenizer import train_sentencepiece

    source = shutil.copytree(family_models["t5"].checkpoint, tmp_path / "t5")
    other = train_sentencepiece(
        [f"zebra {i} quartz" for i in range(300)], tmp_path / "o", vocab_size=60
    )
    shutil.copyfile(other, source / "spiece.model")
    out = tmp_path / "out"
    args = [str(source), str(out), "--quantization", "float32", "--task", "summarization",
            "--source-language", "en"]  # fmt: skip
    _fails(args, capsys, "does not match the model's original tokenizer", "check the tokenizer")
    assert not out.exists()


def test_tokenizer_of_another_size_is_refused(
    family_models: dict[str, FamilyModel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = family_models["own-post"]
    assert own.config_file is not None
    config = json.loads(own.config_file.read_text())
    shutil.copytree(own.config_file.parent, tmp_path / "own")
    (tmp_path / "own" / "model.json").write_text(json.dumps({**config, "tokenizer": "x.model"}))
    shutil.copyfile(family_models["own-prenorm"].config_file.parent / "digits.model",  # type: ignore[union-attr]
                    tmp_path / "own" / "x.model")  # fmt: skip
    out = tmp_path / "out"
    args = [str(tmp_path / "own" / "model.pt"), str(out), "--family", "pytorch-transformer",
            "--config", str(tmp_path / "own" / "model.json"), "--task", "translation",
            "--source-language", "zxx", "--target-language", "zxx-x-rev"]  # fmt: skip
    _fails(args, capsys, "does not belong to this model")
    assert not out.exists()


@pytest.mark.parametrize(
    ("model_type", "tokenizer_class", "needle"),
    [("gpt2", "MBart50Tokenizer", "not supported"), ("mbart", "MBartTokenizer", "only mBART-50")],
    ids=["gpt2", "mbart-25"],
)
def test_unsupported_architectures_are_refused(
    family_models: dict[str, FamilyModel],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model_type: str,
    tokenizer_class: str,
    needle: str,
) -> None:
    source = shutil.copytree(family_models["mbart"].checkpoint, tmp_path / "ck")
    for name, key, value in (
        ("config.json", "model_type", model_type),
        ("config.json", "tokenizer_class", tokenizer_class),
        ("tokenizer_config.json", "tokenizer_class", tokenizer_class),
    ):
        data = json.loads((source / name).read_text())
        data[key] = value
        (source / name).write_text(json.dumps(data))
    _fails([str(source), str(tmp_path / "out")], capsys, needle)
    assert not (tmp_path / "out").exists()


def test_language_code_missing_from_the_table_needs_a_table(
    family_models: dict[str, FamilyModel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An NLLB fine-tune with one more language than NLLB-200 ships."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    source = shutil.copytree(family_models["nllb"].checkpoint, tmp_path / "nllb-plus")
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["qya_Tngw"]}, replace_additional_special_tokens=False
    )
    tokenizer.save_pretrained(str(source))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(source))
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(str(source))
    out = tmp_path / "out"
    _fails([str(source), str(out), "--no-verify"], capsys, "qya_Tngw", "--language-table")
    assert not out.exists()

    table = tmp_path / "quenya.json"
    table.write_text(json.dumps({"qya_Tngw": "qya"}))
    code = s2s(["convert", str(source), str(out), "--language-table", str(table),
                "--languages", "en,de,qya", "--quantization", "float32",
                "--verify-threads", "1"])  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "token for token" in printed.out and "PASSED" in printed.out  # the parity table
    languages = load_manifest(out).languages
    assert languages is not None and dict(languages.codes) == {
        "de": "deu_Latn", "en": "eng_Latn", "qya": "qya_Tngw",
    }  # fmt: skip


def test_corrupted_weights_are_refused(
    family_models: dict[str, FamilyModel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shutil.copytree(family_models["pegasus"].checkpoint, tmp_path / "pegasus")
    weights = source / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _fails([str(source), str(tmp_path / "out"), "--task", "summarization",
            "--source-language", "en"], capsys, "CTranslate2 cannot convert")  # fmt: skip
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["truncated", "missing-tensor"])
def test_corrupted_state_dict_is_refused(
    family_models: dict[str, FamilyModel],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    import torch

    own = family_models["own-post"]
    assert own.config_file is not None
    state = tmp_path / "model.pt"
    if damage == "truncated":
        data = own.checkpoint.read_bytes()
        state.write_bytes(data[: len(data) // 3])
        needle = "cannot read the state dict"
    else:
        tensors = torch.load(own.checkpoint, weights_only=True)
        del tensors["transformer.decoder.layers.1.linear1.weight"]
        torch.save(tensors, state)
        needle = "no 'transformer.decoder.layers.1.linear1.weight'"
    out = tmp_path / "out"
    _fails([str(state), str(out), "--family", "pytorch-transformer", "--config",
            str(own.config_file), "--task", "translation", "--source-language", "zxx",
            "--target-language", "zxx-x-rev"], capsys, needle)  # fmt: skip
    assert not out.exists()


def test_float32_disagreement_fails_with_no_output(
    family_models: dict[str, FamilyModel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user's module computes something model.json does not describe (it is pre-norm,
    model.json says post-norm): the conversion is wrong, and --verify says so, serving nothing."""
    own = family_models["own-post"]
    assert own.config_file is not None
    (tmp_path / "mymodel.py").write_text(
        "import dataclasses\n"
        "from converters.own.modules import TorchTransformerSeq2Seq\n"
        "def build(config):\n"
        "    return TorchTransformerSeq2Seq(dataclasses.replace(config, norm='pre'))\n"
    )
    config = json.loads(own.config_file.read_text())
    config.update(module="mymodel:build", module_path=str(tmp_path))
    shutil.copyfile(own.config_file.parent / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "model.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    _fails([str(own.checkpoint), str(out), "--family", "pytorch-transformer", "--config",
            str(tmp_path / "model.json"), "--task", "translation", "--source-language", "zxx",
            "--target-language", "zxx-x-rev", "--quantization", "float32",
            "--verify-threads", "1"],
           capsys, "does not decode like the original", "FAILED")  # fmt: skip
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch
