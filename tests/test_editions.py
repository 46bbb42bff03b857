"""The Korean edition (ko/): every chapter has a twin with the same code cells, byte for byte, and Korean prose;
tools/editions.py's check catches a code change made in one edition only."""

from __future__ import annotations

import copy
import re
import sys

import nbformat
import pytest

from book import REPO_ROOT, toc_files

sys.path.insert(0, str(REPO_ROOT / "tools"))
import editions  # noqa: E402

TWINS = editions.twins(REPO_ROOT)
KOREAN_PAGES = editions.toc_files(REPO_ROOT / "ko" / "_toc.yml")
HANGUL = re.compile("[가-힣]")
# Markdown that needs no translation: MyST labels, directives' closing fences, glue-only lines.
UNTRANSLATED = re.compile(r"^\s*(\([\w-]+\)=\s*)*$")


def test_every_page_of_the_english_book_has_a_korean_twin():
    assert set(toc_files()) <= set(KOREAN_PAGES), set(toc_files()) - set(KOREAN_PAGES)
    assert len(TWINS) == 10
    for page in KOREAN_PAGES:
        assert (REPO_ROOT / "ko" / f"{page}.ipynb").exists() or (REPO_ROOT / "ko" / f"{page}.md").exists(), page
    assert "book/glossary" in KOREAN_PAGES


def test_the_korean_table_of_contents_keeps_the_english_order():
    english = toc_files()
    assert [page for page in KOREAN_PAGES if page in english] == english


@pytest.mark.parametrize("english, korean", TWINS, ids=[e.stem for e, _ in TWINS])
def test_twin_shares_every_code_cell(english, korean):
    problems = editions.differences(nbformat.read(english, 4), nbformat.read(korean, 4))
    assert not problems, (
        f"{korean.relative_to(REPO_ROOT)} no longer lines up with {english.relative_to(REPO_ROOT)}: "
        + "; ".join(problems)
        + ". Run `python tools/editions.py sync`, then read the Korean prose around the change."
    )


@pytest.mark.parametrize("english, korean", TWINS, ids=[e.stem for e, _ in TWINS])
def test_twin_markdown_is_korean(english, korean):
    english_cells = [c.source for c in nbformat.read(english, 4).cells if c.cell_type == "markdown"]
    korean_cells = [c.source for c in nbformat.read(korean, 4).cells if c.cell_type == "markdown"]
    for number, (ours, theirs) in enumerate(zip(english_cells, korean_cells)):
        if UNTRANSLATED.match(ours):
            continue
        assert HANGUL.search(theirs) and theirs != ours, f"markdown cell {number} of {korean.name} is not translated"
    captions = editions.substitutions(nbformat.read(korean, 4))
    untranslated = [key for key, text in captions.items() if not HANGUL.search(text)]
    assert not untranslated, f"{korean.name}: these captions are not translated: {untranslated}"


def test_every_figure_caption_is_a_substitution_each_edition_defines():
    """A caption in code-cell metadata is shared by both editions, so it names a substitution instead of saying
    anything itself; each edition's notebook defines it in its own language."""
    for english_path, korean_path in TWINS:
        english = nbformat.read(english_path, 4)
        for cell in english.cells:
            caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption")
            if caption is None:
                continue
            key = re.fullmatch(r"\{\{ (\w+) \}\}", caption)
            assert key, f"{english_path.name}: a figure caption written in the cell's metadata: {caption[:60]!r}"
            assert key.group(1) in editions.substitutions(english), (english_path.name, key.group(1))


@pytest.mark.parametrize("english, korean", TWINS, ids=[e.stem for e, _ in TWINS])
def test_twin_keeps_the_labels_and_citations(english, korean):
    """Cross-references into a page and citations are the same in both editions."""

    def marks(path):
        text = "\n".join(c.source for c in nbformat.read(path, 4).cells if c.cell_type == "markdown")
        labels = sorted(re.findall(r"^\(([\w-]+)\)=", text, re.M))
        return labels, sorted(set(re.findall(r"\{cite:\w+\}`([^`]+)`", text)))

    assert marks(korean) == marks(english)


def test_the_check_catches_code_changed_in_one_edition_only():
    english_path, korean_path = TWINS[0]
    english, korean = nbformat.read(english_path, 4), nbformat.read(korean_path, 4)
    assert editions.differences(english, korean) == []
    changed = copy.deepcopy(korean)
    code = next(i for i, c in enumerate(changed.cells) if c.cell_type == "code")
    changed.cells[code].source += "\nprint('only in Korean')"
    assert editions.differences(english, changed) == [
        f"code cell {code} differs from line {english.cells[code].source.count(chr(10)) + 1} on"
    ]
    tagged = copy.deepcopy(korean)
    tagged.cells[code].metadata["tags"] = ["remove-input"]
    assert "metadata differs" in editions.differences(english, tagged)[0]
    captionless = copy.deepcopy(korean)
    captionless.metadata["myst"] = {"substitutions": {}}
    if editions.substitutions(english):
        assert "substitutions (figure captions) differ" in editions.differences(english, captionless)[0]
    fewer = copy.deepcopy(korean)
    del fewer.cells[code]
    assert "differ in number or kind" in editions.differences(english, fewer)[0]


def test_sync_copies_the_code_and_keeps_the_korean_prose(tmp_path):
    english_path, korean_path = TWINS[0]
    english = nbformat.read(english_path, 4)
    stale = nbformat.read(korean_path, 4)
    code = next(i for i, c in enumerate(stale.cells) if c.cell_type == "code")
    stale.cells[code].source = "print('old code')"
    twin = tmp_path / "twin.ipynb"
    nbformat.write(stale, twin)
    assert editions.sync(english_path, twin) is True
    synced = nbformat.read(twin, 4)
    assert editions.differences(english, synced) == []
    assert [c.source for c in synced.cells if c.cell_type == "markdown"] == [
        c.source for c in stale.cells if c.cell_type == "markdown"
    ]
    assert editions.sync(english_path, twin) is False


def test_the_korean_page_gets_the_english_execution():
    english_path, korean_path = TWINS[0]
    executed = nbformat.read(english_path, 4)
    parameters = next(i for i, c in enumerate(executed.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell('PROFILE = "smoke"', metadata={"tags": [editions.INJECTED]})
    executed.cells.insert(parameters + 1, injected)
    for cell in executed.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="ran\n")]
            cell.metadata["papermill"] = {"duration": 1.0}
    korean = nbformat.read(korean_path, 4)
    page = editions.with_executed_code(korean, executed)
    assert [c.source for c in page.cells if c.cell_type == "code"] == [
        c.source for c in executed.cells if c.cell_type == "code"
    ]
    assert all(c.outputs for c in page.cells if c.cell_type == "code")
    assert [c.source for c in page.cells if c.cell_type == "markdown"] == [
        c.source for c in korean.cells if c.cell_type == "markdown"
    ]
    korean.cells[parameters].source = "PROFILE = 'other'"
    with pytest.raises(ValueError, match="does not line up"):
        editions.with_executed_code(korean, executed)
