"""Input pipelines, timed: the post's host-side resize against uint8 batches resized inside the model.

TensorFlow-only (tf.data): the chapters that call these skip the measurement on another Keras backend.
"""

from __future__ import annotations

from alexnet_book.timing import seconds_per_call

RAW_IMAGE_BYTES = 32 * 32 * 3  # a CIFAR-10 image as uint8
POST_IMAGE_BYTES = 227 * 227 * 3 * 4  # the same image after the post's resize, float32


def post_pipeline(images, labels, batch_size: int = 32):
    """The blog post's tf.data pipeline, bug included: resize to 227 on the host, then a
    convert_image_dtype that does not rescale (resize already returned float32 in 0..255)."""
    import tensorflow as tf

    def augment(image, label):
        image = tf.image.resize(image, (227, 227))
        image = tf.image.convert_image_dtype(image, tf.float32)
        return image, label

    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).map(augment)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def uint8_pipeline(images, labels, batch_size: int = 128):
    """What the book feeds: uint8 32x32 batches, untouched (the model rescales and resizes on the accelerator)."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _drain(dataset) -> None:
    for _ in dataset:
        pass


def delivered_per_second(dataset, images_per_pass: int, repeats: int = 2, rounds: int = 3) -> float:
    """Images per second that iterating a dataset delivers, timed as alexnet_book.timing times (an untimed pass
    first, which traces it; the best of `rounds` rounds of `repeats` passes)."""
    return images_per_pass / seconds_per_call(lambda: _drain(dataset), repeats=repeats, rounds=rounds)


def compare_pipelines(images, labels, rounds: int = 3) -> dict:
    """Time both pipelines over the same images; rates in images/s and MB/s that cross to the device."""
    count = len(images)
    if count < 32:
        raise ValueError(f"time the pipelines on at least 32 images (one of the post's batches), got {count}.")
    post_rate = delivered_per_second(post_pipeline(images, labels), 32 * (count // 32), rounds=rounds)
    uint8_rate = delivered_per_second(uint8_pipeline(images, labels), count, rounds=rounds)
    return {
        "images": count,
        "post_images_per_second": post_rate,
        "uint8_images_per_second": uint8_rate,
        "post_megabytes_per_second": post_rate * POST_IMAGE_BYTES / 1e6,
        "uint8_megabytes_per_second": uint8_rate * RAW_IMAGE_BYTES / 1e6,
        "speedup": uint8_rate / post_rate,
    }
