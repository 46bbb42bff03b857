"""alexnet_book.phrases: the short words a page's sentence takes from its numbers."""

from __future__ import annotations

from alexnet_book.phrases import crossover_phrase, describe_devices, more_or_less, timing_caveat


def test_crossover_phrase():
    assert crossover_phrase(97.7) == "about 98 images" and crossover_phrase(938.2) == "about 938 images"
    assert crossover_phrase(None) == "no batch size"


def test_more_or_less_and_the_devices_in_words():
    assert (
        more_or_less(2, 1) == "more than" and more_or_less(1, 2) == "less than" and more_or_less(1, 1) == "as much as"
    )
    assert describe_devices(["cpu:0", "cpu:1"]) == "two virtual CPU devices that share one CPU's cores"
    assert describe_devices(["gpu:0", "gpu:1"]) == "two GPUs"
    assert "overheads" in timing_caveat(["cpu:0", "cpu:1"])
    assert "transfers between them" in timing_caveat(["gpu:0", "gpu:1"])
