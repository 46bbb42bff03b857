"""alexnet_book.bilingual and its Korean catalogue: one call gives a phrase in both editions' languages."""

from __future__ import annotations

import ast
import json
import pickle
import re
import string
from pathlib import Path

import nbformat
import pytest

from alexnet_book import bilingual, catalogue_ko, phrases
from alexnet_book.bilingual import Phrase, counted, final_sound, listed, particle, say, term
from alexnet_book.data import CLASS_NAMES

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = REPO_ROOT / "src" / "alexnet_book"
HANGUL = re.compile("[가-힣]")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _string_constants() -> set[str]:
    """Every string literal of the package's modules and the chapters' code cells (implicit concatenation joined)."""
    sources = [path.read_text() for path in PACKAGE.rglob("*.py")]
    for notebook in sorted((REPO_ROOT / "chapters").glob("*.ipynb")):
        sources += [c.source for c in nbformat.read(notebook, 4).cells if c.cell_type == "code"]
    found = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def test_a_phrase_is_its_english_text_and_carries_the_korean():
    phrase = say("the whole cell took {seconds:,.0f} seconds", seconds=1234.4)
    assert phrase == "the whole cell took 1,234 seconds" and isinstance(phrase, str)
    assert phrase.ko == "셀 전체에 1,234초가 걸렸다"
    assert pickle.loads(pickle.dumps(phrase)).ko == phrase.ko


def test_a_phrase_inside_a_phrase_is_put_in_in_each_language():
    phrase = say("reached it in {epochs}", epochs=counted(3, "epoch"))
    assert phrase == "reached it in 3 epochs" and phrase.ko.startswith("3 에폭")


def test_a_phrase_without_a_translation_names_the_catalogue():
    with pytest.raises(LookupError, match="catalogue_ko.py"):
        say("a phrase nobody translated")
    with pytest.raises(LookupError, match="COUNTERS"):
        counted(2, "giraffe")


@pytest.mark.parametrize(
    "word, pair, expected",
    [
        ("ReLU", "이/가", "ReLU가"),
        ("LRN", "이/가", "LRN이"),
        ("tanh", "은/는", "tanh는"),
        ("BatchNormalization", "을/를", "BatchNormalization을"),
        ("정규화 없음", "이/가", "정규화 없음이"),
        ("기준선", "과/와", "기준선과"),
        ("두 그룹", "으로/로", "두 그룹으로"),
        ("배", "이/가", "배가"),
        ("말", "으로/로", "말로"),
        ("float32", "이/가", "float32가"),
        ("mixed_bfloat16", "이/가", "mixed_bfloat16이"),
        ("1", "으로/로", "1로"),
        ("3", "으로/로", "3으로"),
        ("10", "은/는", "10은"),
        ("45%", "이/가", "45%가"),
    ],
)
def test_the_particle_follows_the_last_sound(word, pair, expected):
    assert particle(word, pair) == expected


def test_an_unknown_particle_pair_is_refused():
    with pytest.raises(ValueError, match="particle"):
        particle("LRN", "의/에")
    assert final_sound("") == "vowel"


def test_counts_take_their_korean_counters():
    assert counted(1, "epoch") == "1 epoch" and counted(1, "epoch").ko == "1 에폭"
    assert counted(2_400, "image") == "2,400 images" and counted(2_400, "image").ko == "이미지 2,400장"
    for noun in catalogue_ko.COUNTERS:
        assert HANGUL.search(counted(2, noun).ko) or noun == "step", noun


def test_lists_in_both_languages():
    assert listed([223, 227]) == "223 and 227" and listed([223, 227]).ko == "223, 227"
    assert listed(["a", "b", "c"]) == "a, b and c"
    assert listed([2, 3], "or").ko == "2 또는 3"
    assert listed(["no dropout", "two groups"], ",").ko == "드롭아웃 없음, 두 그룹"
    assert listed([], ",", empty="none of them").ko == "하나도 없음"
    assert listed(["LRN, not BN", "no dropout"], ";") == "LRN, not BN; no dropout"
    assert listed(["LRN, not BN", "no dropout"], ";").ko == "BN 대신 LRN, 드롭아웃 없음"
    runs = [say("{activation}, rate {rate:g}", activation=name, rate=0.01) for name in ("relu", "tanh")]
    assert listed(runs, ";").ko == "relu, 학습률 0.01; tanh, 학습률 0.01"
    with pytest.raises(ValueError, match="conjunction"):
        listed([1, 2], "but")


def test_every_cifar10_class_has_a_korean_name():
    assert all(HANGUL.search(term(name).ko) for name in CLASS_NAMES)
    assert term("conv2") == term("conv2").ko == "conv2"  # a layer's name is the same in both


def test_every_catalogued_phrase_is_said_somewhere():
    """No stale entry: each English template is a string in the package or the chapters' code."""
    constants = _string_constants()
    unused = [template for template in catalogue_ko.SENTENCES if template not in constants]
    assert not unused, f"catalogue entries nothing says: {unused}"


def test_every_term_is_a_name_the_book_uses():
    recorded = json.dumps([json.loads(p.read_text()) for p in (PACKAGE / "recorded").glob("*.json")])
    constants = _string_constants()
    unused = [name for name in catalogue_ko.TERMS if name not in constants and json.dumps(name) not in recorded]
    assert not unused, unused


@pytest.mark.parametrize("template", list(catalogue_ko.SENTENCES))
def test_each_translation_uses_only_the_phrase_s_fields(template):
    korean = catalogue_ko.SENTENCES[template]
    # `number`: the count in figures where the English spells it out ("two GPUs": "GPU 2개")
    assert _fields(korean) <= _fields(template) | {"number"}, (template, korean)
    words = re.sub(r"\{[^}]*\}", "", template)
    if re.search("[a-z]{3}", words) and not re.fullmatch(r"[\w.()*,:/ ]*", words.replace("GPU", "")):
        assert HANGUL.search(korean), f"{template!r} is not translated: {korean!r}"


def test_korean_phrases_are_sentences_without_a_final_period_unless_the_english_has_one():
    for template, korean in catalogue_ko.SENTENCES.items():
        assert korean.endswith(".") == template.endswith((".", ":", ";")) or template.endswith((":", ";")), template


def test_phrase_functions_give_both_languages():
    for phrase in [
        phrases.race_verdict(2, 5),
        phrases.reached(None, 8),
        phrases.leader_phrase({"BatchNormalization": 0.5, "no normalization": 0.46, "LRN": 0.3}, 0.049),
        phrases.difference_verdict("LRN", "no normalization", 0.3, 0.5, 0.01),
        phrases.describe_devices(["cpu:0", "cpu:1"]),
        phrases.describe_devices(["gpu:0", "gpu:1"]),
        phrases.class_balance([490, 500, 510]),
        phrases.times_divided(3),
    ]:
        assert isinstance(phrase, Phrase) and HANGUL.search(phrase.ko), phrase
    assert phrases.leader_phrase({"LRN": 0.5, "no normalization": 0.2}, 0.05).ko.startswith("LRN이 가장 높았다")
    assert phrases.describe_devices(["gpu:0", "gpu:1"]).ko == "GPU 2개"


def test_the_module_docstring_names_the_catalogue():
    assert "catalogue_ko" in bilingual.__doc__
