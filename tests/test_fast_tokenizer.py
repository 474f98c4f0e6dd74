"""FastTokenizer (tokenizers alone) gives exactly what transformers' tokenizer gives."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from searchengine.models.fast_tokenizer import FastTokenizer, Unsupported

TEXTS = [
    "승용차를 사려면 무엇을 확인해야 하나요?",
    unicodedata.normalize("NFD", "자동차 구입 비용"),  # decomposed Hangul
    "walking my puppy in the park",
    "the car engine and the road tax " * 200,  # past any model's limit: truncated
    "",
    "   \t\n  ",
    "x",
    "東京タワー 🚗🐶 café naïve",
    "zero\u200bwidth space and <s> <pad> </s> <unk> written out",
    "os.path.join(dpkg-divert) v2.3.1 — “quotes” ½",
]


def _compare(folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    ours, theirs = FastTokenizer(folder), PreTrainedTokenizerFast.from_pretrained(folder)
    assert ours.model_max_length == theirs.model_max_length or ours.model_max_length is None
    for text in TEXTS:  # one text, as token_spans and prefix_tokens ask
        for special in (True, False):
            kw = {"add_special_tokens": special, "return_offsets_mapping": True}
            a, b = ours(text, **kw), theirs(text, **kw)
            assert a["input_ids"] == b["input_ids"], text
            assert a["attention_mask"] == b["attention_mask"]
            assert [tuple(x) for x in a["offset_mapping"]] == [
                tuple(x) for x in b["offset_mapping"]
            ]
    for max_length in (8, 64, 512):  # batches, as encode asks
        kw = {"padding": True, "truncation": True, "max_length": max_length}
        a, b = ours(TEXTS, return_tensors="np", **kw), theirs(TEXTS, return_tensors="np", **kw)
        assert a["input_ids"].dtype == b["input_ids"].dtype
        assert (a["input_ids"] == b["input_ids"]).all() and a["input_ids"].shape[1] <= max_length
        assert (a["attention_mask"] == b["attention_mask"]).all()


def test_the_tiny_bert_tokenizer_matches_transformers(tiny_bert_dir: Path) -> None:
    _compare(tiny_bert_dir)


@pytest.mark.e2e
def test_the_e5_tokenizer_matches_transformers(real_home: Path) -> None:
    from searchengine.models.presets import resolve_text_model

    _compare(Path(resolve_text_model("e5-small", real_home / "models").location))


def test_a_left_padding_tokenizer_goes_to_transformers(tiny_bert_dir: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import shutil

    from searchengine.models.text_encoder import _load_tokenizer

    folder = tmp_path / "left"
    shutil.copytree(tiny_bert_dir, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "padding_side": "left"}))
    with pytest.raises(Unsupported):
        FastTokenizer(folder)
    tokenizer = _load_tokenizer(str(folder))
    assert not isinstance(tokenizer, FastTokenizer) and tokenizer.padding_side == "left"


def test_a_damaged_tokenizer_file_is_a_clear_error(tiny_bert_dir: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from searchengine.errors import ModelUnavailableError
    from searchengine.models.sources import TextSource
    from searchengine.models.text_encoder import TextEncoder

    folder = tmp_path / "damaged"
    shutil.copytree(tiny_bert_dir, folder)
    (folder / "tokenizer.json").write_text("{not json")
    encoder = TextEncoder(TextSource("tiny", str(folder), "test", "", ""), engine="torch")
    with pytest.raises(ModelUnavailableError, match="tokenizer.json"):
        encoder.encode(["x"])
