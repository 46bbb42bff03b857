"""alexnet_book.tables: aligned text tables and markdown tables."""

import pytest

from alexnet_book.tables import markdown_table, text_table


def test_text_table_aligns_the_first_column_left_and_the_others_right():
    table = text_table(("layer", "parameters"), [("conv1", "34,944"), ("fc8", "4,097,000")])
    assert table.splitlines() == [
        "layer  parameters",
        "-----  ----------",
        "conv1      34,944",
        "fc8     4,097,000",
    ]


def test_markdown_table_has_a_header_a_rule_and_one_line_per_row():
    table = markdown_table(("layer", "whole", "on each device"), [("`conv2/kernel`", (5, 5, 48, 256), (5, 5, 48, 128))])
    assert table.splitlines() == [
        "| layer | whole | on each device |",
        "| --- | --- | --- |",
        "| `conv2/kernel` | (5, 5, 48, 256) | (5, 5, 48, 128) |",
    ]


def test_a_bar_in_a_cell_does_not_split_it():
    assert markdown_table(("a",), [("x | y",)]).splitlines()[-1] == "| x \\| y |"


@pytest.mark.parametrize("table", [text_table, markdown_table])
def test_a_row_of_the_wrong_length_is_refused(table):
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        table(("a", "b"), [("1",)])
