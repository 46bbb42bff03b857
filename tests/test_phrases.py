"""alexnet_book.phrases: the short words a page's sentence takes from its numbers."""

from __future__ import annotations

from alexnet_book import phrases
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


def test_race_verdict_and_ratio_cover_every_outcome():
    assert phrases.race_verdict(2, 5) == "ReLU got there first"
    assert phrases.race_verdict(5, 2) == "tanh got there first"
    assert phrases.race_verdict(3, 3) == "both got there in the same epoch"
    assert phrases.race_verdict(3, None) == "only ReLU got there"
    assert phrases.race_verdict(None, 4) == "only tanh got there"
    assert phrases.race_verdict(None, None) == "neither got there"
    assert phrases.epochs_ratio(6, 2) == "3.0" and phrases.epochs_ratio(None, 2) == "not measurable in this run"


def test_reached_counts_its_epochs():
    assert phrases.reached(1, 8) == "reached it in 1 epoch" and phrases.reached(3, 8) == "reached it in 3 epochs"
    assert phrases.reached(None, 8) == "had not reached it after 8 epochs"


def test_times_divided_and_the_recipe_in_words():
    from alexnet_book.recipe import Recipe

    assert [phrases.times_divided(n) for n in (0, 1, 2, 3)] == [
        "never divided",
        "divided once",
        "divided twice",
        "divided 3 times",
    ]
    assert phrases.recipe_phrase(Recipe(learning_rate=0.01), 128, True) == "with the paper's recipe"
    short = phrases.recipe_phrase(Recipe(learning_rate=0.0003), 32, False)
    assert short.startswith("with the paper's optimizer") and "no augmentation" in short


def test_the_inspection_verdicts_follow_the_differences():
    assert phrases.smoothing_verdict(0.6, 0.0).endswith("with smooth patterns")
    assert phrases.smoothing_verdict(0.1, 0.0).startswith("training has begun")
    assert phrases.smoothing_verdict(0.02, 0.0).startswith("training has hardly changed")
    assert phrases.neighbour_verdict(0.5, 0.2).endswith("much better than their pixels do")
    assert phrases.neighbour_verdict(0.3, 0.2) == "fc7 groups images by class better than their pixels do"
    assert phrases.neighbour_verdict(0.21, 0.2).startswith("fc7 groups images by class about as well")
    assert phrases.neighbour_verdict(0.1, 0.2).startswith("the pixels group images by class better")


def test_chapter_nines_phrases():
    assert phrases.precision_verdict("mixed_bfloat16", 20.0, 40.0).startswith(
        "mixed_bfloat16 trained faster (bfloat16 at 2.00 times float32's best rate), and it is what"
    )
    assert "but float32 is what" in phrases.precision_verdict("float32", 20.0, 30.0)
    assert phrases.precision_verdict("float32", 20.0, 10.0).startswith("float32 trained faster")
    assert phrases.precision_verdict("float32", 20.0, 20.5).startswith("mixed_bfloat16 and float32 trained about")
    assert phrases.recorded_rate_phrase(None, 100.0) == "none yet"
    assert phrases.recorded_rate_phrase(25.0, 100.0) == "25 images per second, 25% of the yardstick"
    pipes = {"post_images_per_second": 100.0, "post_megabytes_per_second": 61.8, "uint8_images_per_second": 1e5}
    assert phrases.pipeline_phrase(pipes, "tensorflow", 1000.0).endswith("would get 10% of the images it can train on;")
    assert phrases.pipeline_phrase(None, "jax", 1000.0).startswith("This page ran on the jax backend")


def test_gaps_and_differences_in_words():
    assert phrases.training_gap(0.032) == "training accuracy 3.2 points higher"
    assert phrases.training_gap(-0.1) == "training accuracy 10.0 points lower"
    assert phrases.training_gap(0.0001) == "training accuracy the same"
    close = phrases.difference_verdict("overlapping", "side-by-side", 0.62, 0.60, 0.043)
    assert close.startswith("they differ by 2.0 points, within the 4.3 points") and close.endswith("no winner")
    clear = phrases.difference_verdict("overlapping", "side-by-side", 0.55, 0.62, 0.043)
    assert clear.startswith("they differ by 7.0 points in favour of side-by-side, more than the 4.3 points")


def test_chapter_five_and_six_phrases():
    rates = {
        "images": 2048,
        "post_images_per_second": 9876.4,
        "uint8_images_per_second": 290_000.0,
        "speedup": 29.4,
        "post_megabytes_per_second": 6100.2,
    }
    assert phrases.pipeline_comparison(rates, "tensorflow").startswith(
        "Over 2,048 training images, the post's pipeline delivered 9,876 images per second"
    )
    assert "about 29 times as many" in phrases.pipeline_comparison(rates, "tensorflow")
    assert phrases.pipeline_comparison(None, "jax").startswith("This page ran on the jax backend")
    assert phrases.pipeline_push(rates) == "images (here 9,876 a second, 6,100 MB a second to push across to the GPU)"
    assert phrases.pipeline_push(None) == "the images on the host"
    assert phrases.cell_time(False, 97.4) == "the whole cell took 97 seconds"
    assert phrases.cell_time(True, 3.0).endswith("trained nothing")


def test_tensorflow_op_check_says_whether_the_comparison_ran():
    assert phrases.tensorflow_op_check("tensorflow").startswith("TensorFlow's own op, run on this page, gives the same")
    skipped = phrases.tensorflow_op_check("jax")
    assert skipped.startswith("this page ran on the jax backend") and skipped.endswith("was skipped")
    assert "torch backend" in phrases.tensorflow_op_check("torch")


def test_roughly_as_much_ignores_differences_within_the_tolerance():
    assert phrases.roughly_as_much(520_908, 520_916) == "about as much as"
    assert phrases.roughly_as_much(520_916, 520_916) == "as much as"
    assert phrases.roughly_as_much(1_474_956, 520_916) == "more than"
    assert phrases.roughly_as_much(100, 120) == "less than"
    assert phrases.roughly_as_much(104, 100, within=0.05) == "about as much as"
    assert phrases.roughly_as_much(106, 100, within=0.05) == "more than"


def test_the_leader_is_judged_against_the_noise():
    import pytest

    runs = {"LRN": 0.410, "no normalization": 0.462, "BatchNormalization": 0.432}
    assert phrases.leader_phrase(runs, 0.045) == (
        "no normalization scored highest, 3.0 points above BatchNormalization (within the 4.5 points of noise) and "
        "5.2 points above LRN (beyond them)"
    )
    assert phrases.leader_phrase({"a": 0.50, "b": 0.40}, 0.045) == (
        "a scored highest, 10.0 points above b (beyond the 4.5 points of noise)"
    )
    close = phrases.leader_phrase({"a": 0.50, "b": 0.48, "c": 0.47}, 0.045)
    assert (
        close == "a scored highest, but at most 3.0 points above the others, within the 4.5 points of noise: no winner"
    )
    with pytest.raises(ValueError, match="at least two runs"):
        phrases.leader_phrase({"a": 0.5}, 0.045)


def test_dropout_verdict_covers_every_outcome():
    assert phrases.dropout_verdict(0.40, 0.46, 0.10, 0.045) == "dropout already pays off in a run this short"
    slowed = phrases.dropout_verdict(0.462, 0.410, 0.109, 0.045)
    assert slowed.startswith("the network without dropout had begun to memorize") and "slowing learning" in slowed
    assert phrases.dropout_verdict(0.462, 0.410, 0.02, 0.045).endswith("so dropout only slowed its learning")
    assert phrases.dropout_verdict(0.46, 0.45, 0.10, 0.045).endswith("within the noise of a run this short")
    assert phrases.dropout_verdict(0.46, 0.45, 0.10, 0.045).startswith("the network without dropout had begun")
    assert (
        phrases.dropout_verdict(0.46, 0.45, 0.01, 0.045) == "dropout's effect is within the noise of a run this short"
    )


def test_lrn_passes_name_the_conversions_only_under_a_mixed_policy():
    assert phrases.lrn_passes("float32") == "a square, the band-matrix product, a power and a product"
    mixed = phrases.lrn_passes("mixed_bfloat16")
    assert mixed.endswith("a conversion to float32 and back, since it computes in float32 under mixed_bfloat16")


def test_class_sizes_in_words():
    import pytest

    assert phrases.class_count_range([5000] * 10) == "5,000"
    assert phrases.class_count_range([479, 435, 489]) == "between 435 and 489"
    assert phrases.class_share_range([100] * 10) == "10.0%"
    assert phrases.class_share_range([93, 105, 802]) == "9.3% to 80.2%"
    assert phrases.class_balance([100] * 10).startswith("the set is balanced")
    nearly = phrases.class_balance([93] + [100] * 8 + [107])
    assert nearly.startswith("the set is nearly balanced") and nearly.endswith("would score 10.7%")
    skewed = phrases.class_balance([50] + [100] * 8 + [150])
    assert skewed.startswith("the set is not balanced") and skewed.endswith("already scores 15.0%")
    with pytest.raises(ValueError, match="at least one image"):
        phrases.class_balance([0, 0])
