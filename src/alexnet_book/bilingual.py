"""Phrases in both of the book's languages, from one call.

The Korean edition's chapters share the English chapters' code cells byte for byte, so a phrase that code chooses
(a verdict, a count with its noun, a data source) has to come out in both languages from the same call. `say`
formats an English template and its Korean translation, which the catalogue (`catalogue_ko`) keeps under the English
template as gettext keeps a translation under its msgid, and returns a `Phrase`: the English text, carrying the
Korean in `.ko`. `notebook.glue` glues a Phrase twice, as `name` (English) and `name_ko` (Korean).

A Korean particle after a word that varies (이/가, 은/는, 을/를, 과/와, 으로/로) depends on whether the word's last
syllable ends in a consonant, so the Korean template writes the pair as the field's format spec,
"{leader:이/가}", and `particle` picks the right one.
"""

from __future__ import annotations

import string

from alexnet_book.catalogue_ko import COUNTERS, SENTENCES, TERMS

# Digits read as Sino-Korean numbers: 영 일 이 삼 사 오 육 칠 팔 구 (0 as in 십, 백, 천, 만: all end in a consonant).
_DIGITS_WITH_FINAL = set("0136789")
_DIGITS_WITH_RIEUL = set("178")  # 일, 칠, 팔 end in ㄹ, which takes 로 rather than 으로
# Latin letters read by their names: only 엘 엠 엔 알 end in a consonant (L M N R); ReLU, tanh, float32 do not.
_LETTERS_WITH_FINAL = set("lmnr")
PARTICLES = {"이/가", "은/는", "을/를", "과/와", "으로/로"}


class Phrase(str):
    """English text that carries its Korean translation in `.ko` (printing it shows the English)."""

    ko: str

    def __new__(cls, english: str, korean: str):
        phrase = super().__new__(cls, english)
        phrase.ko = korean
        return phrase

    def __reduce__(self):  # copies and pickles keep the Korean
        return (Phrase, (str(self), self.ko))


def final_sound(word: str) -> str:
    """How a word's last syllable ends when read aloud: "consonant", "rieul" (ㄹ) or "vowel"."""
    text = word.rstrip(" )]}'\"%.")
    if not text:
        return "vowel"
    last = text[-1]
    if "가" <= last <= "힣":
        final = (ord(last) - ord("가")) % 28
        return "vowel" if final == 0 else "rieul" if final == 8 else "consonant"
    if last.isdigit():
        return "rieul" if last in _DIGITS_WITH_RIEUL else "consonant" if last in _DIGITS_WITH_FINAL else "vowel"
    if last.lower() == "l":
        return "rieul"
    return "consonant" if last.lower() in _LETTERS_WITH_FINAL else "vowel"


def particle(word: str, pair: str) -> str:
    """The word with the particle of `pair` ("이/가") that its last sound takes: "LRN이", "ReLU가", "1로"."""
    if pair not in PARTICLES:
        raise ValueError(f"unknown particle pair {pair!r}; the catalogue may use {', '.join(sorted(PARTICLES))}.")
    after_consonant, after_vowel = pair.split("/")
    sound = final_sound(word)
    if pair == "으로/로":
        return word + (after_consonant if sound == "consonant" else after_vowel)
    return word + (after_vowel if sound == "vowel" else after_consonant)


class _KoreanFormatter(string.Formatter):
    """str.format, where a format spec that is a particle pair attaches the particle to the field."""

    def format_field(self, value, format_spec):
        if format_spec in PARTICLES:
            return particle(format(value), format_spec)
        return super().format_field(value, format_spec)


def _korean(value):
    return value.ko if isinstance(value, Phrase) else value


def say(template: str, **fields) -> Phrase:
    """The English template formatted with `fields`, carrying its Korean translation from the catalogue formatted
    with the same fields (a field that is itself a Phrase is put in in its own language)."""
    try:
        korean = SENTENCES[template]
    except KeyError:
        raise LookupError(
            f"no Korean translation of the phrase {template!r}: add it to SENTENCES in "
            "alexnet_book/catalogue_ko.py (tests/test_bilingual.py lists every phrase the package says)."
        ) from None
    english_fields = {name: str(value) if isinstance(value, Phrase) else value for name, value in fields.items()}
    korean_fields = {name: _korean(value) for name, value in fields.items()}
    return Phrase(template.format(**english_fields), _KoreanFormatter().format(korean, **korean_fields))


def term(word: str) -> Phrase:
    """A name the chapters use (an ablation, a CIFAR-10 class, a normalization) in both languages; a name the
    catalogue does not translate (a layer name, a framework) is the same in both."""
    return word if isinstance(word, Phrase) else Phrase(word, TERMS.get(word, word))


def counted(number: int, noun: str) -> Phrase:
    """A count and its noun: "1 epoch", "2 epochs", "1,000 images" (nouns that take an s); in Korean with the
    noun's counter from the catalogue ("3 에폭", "이미지 1,000장")."""
    english = f"{number:,} {noun}{'' if number == 1 else 's'}"
    if noun not in COUNTERS:
        raise LookupError(f"no Korean counter for {noun!r}: add it to COUNTERS in alexnet_book/catalogue_ko.py.")
    return Phrase(english, COUNTERS[noun].format(number=number))


def listed(items, conjunction: str = "and", empty: str = "none") -> Phrase:
    """Items in a sentence: "a, b and c" ("or": "2 or 3"; "," or ";": "a, b, c", "a; b"), or `empty` (a catalogued
    phrase) where there are none; in Korean "a, b, c" ("2 또는 3"). Names the catalogue translates are listed in each
    language; ";" stays ";" only in a language whose names have commas in them ("LRN, not BN" is "BN 대신 LRN")."""
    if conjunction not in ("and", "or", ",", ";"):
        raise ValueError(f"conjunction must be 'and', 'or', ',' or ';', not {conjunction!r}.")
    items = [term(str(item)) if not isinstance(item, Phrase) else item for item in items]
    if not items:
        return say(empty)
    english, korean = [str(item) for item in items], [item.ko for item in items]
    if conjunction in (",", ";"):  # ";" separates names with commas in them; a language whose names have none uses ","
        korean_separator = "; " if conjunction == ";" and any("," in item for item in korean) else ", "
        return Phrase(f"{conjunction} ".join(english), korean_separator.join(korean))
    joined = english[0] if len(english) == 1 else ", ".join(english[:-1]) + f" {conjunction} " + english[-1]
    return Phrase(joined, (" 또는 " if conjunction == "or" else ", ").join(korean))
