"""A small CNN with AlexNet's input contract (uint8 32x32x3, scaled inside) and its kinds of randomness (dropout;
random flips when augmented), so that most training tests run in seconds: use_tiny_model() makes
alexnet_book.train build it in place of AlexNet (in this process)."""

import keras

import alexnet_book.train as training


def build_tiny_model(num_classes: int = 10, weight_decay: float | None = None, augment: bool = False):
    """A small CNN with AlexNet's input contract (uint8 32x32x3, scaled inside) and dropout before its classifier
    (as AlexNet's fc6 and fc7), for fast tests only."""
    layers = keras.layers
    penalty = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    x = layers.Rescaling(1 / 255)(inputs)
    if augment:
        x = layers.RandomFlip("horizontal")(x)
    for index, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=penalty, name=f"conv{index}")(
            x
        )
        x = layers.BatchNormalization(name=f"bn{index}")(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Dense(num_classes, kernel_regularizer=penalty, name="fc8")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")


def build_tiny_training_model(config, num_classes: int = 10):
    """alexnet_book.train.build_training_model's stand-in: the tiny CNN with the run's weight decay, augmentation
    and BatchNormalization momentum."""
    return build_tiny_model(num_classes, config.weight_decay or None, bool(config.augment))


def use_tiny_model() -> None:
    """For a subprocess that drives alexnet_book.train (a test's own process uses the monkeypatch fixture)."""
    training.build_training_model = build_tiny_training_model


def tiny_config(folder, **settings) -> training.TrainConfig:
    """A run of the tiny CNN on the stand-in: two quick epochs at the smoke profile, quiet."""
    values = dict(
        profile="smoke",
        download=False,
        output_dir=None if folder is None else str(folder),
        epochs=2,
        train_size=600,
        validation_size=150,
        test_size=200,
        learning_rate=0.01,
        verbose=0,
    )
    return training.TrainConfig(**{**values, **settings})
