"""Input pipelines (TensorFlow-only) and the recorded GPU figures the performance chapter quotes."""

import numpy as np
import pytest

from alexnet_book.recorded_benchmarks import recorded_gpu_benchmarks

tf = pytest.importorskip("tensorflow")


def _images(count):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=(count,))


def test_post_pipeline_resizes_on_the_host_and_does_not_rescale():
    from alexnet_book.pipeline import post_pipeline

    images, labels = _images(70)
    batches = list(post_pipeline(images, labels))
    assert len(batches) == 2  # drop_remainder: 70 images give two batches of 32, the last 6 are dropped
    x, _ = batches[0]
    assert tuple(x.shape) == (32, 227, 227, 3) and x.dtype == tf.float32
    assert float(tf.reduce_max(x)) > 1.0  # the post's bug, kept on purpose: values stay 0..255


def test_uint8_pipeline_keeps_every_image_small():
    from alexnet_book.pipeline import uint8_pipeline

    images, labels = _images(130)
    batches = list(uint8_pipeline(images, labels))
    assert [int(x.shape[0]) for x, _ in batches] == [128, 2]
    assert batches[0][0].dtype == tf.uint8 and tuple(batches[0][0].shape[1:]) == (32, 32, 3)


def test_compare_pipelines_reports_positive_rates_and_refuses_too_few_images():
    from alexnet_book.pipeline import compare_pipelines

    images, labels = _images(64)
    result = compare_pipelines(images, labels, rounds=1)
    assert result["post_images_per_second"] > 0 and result["uint8_images_per_second"] > 0
    assert result["speedup"] == pytest.approx(result["uint8_images_per_second"] / result["post_images_per_second"])
    with pytest.raises(ValueError, match="at least 32 images"):
        compare_pipelines(*_images(10))


def test_recorded_gpu_benchmarks_carry_date_card_and_runs():
    records = recorded_gpu_benchmarks()
    assert records, "no recorded GPU benchmark in src/alexnet_book/recorded"
    for record in records:
        assert record["date"] and record["card"] and record["source"]
        assert all(run["images_per_second"] > 0 and run["batch"] > 0 for run in record["runs"])
