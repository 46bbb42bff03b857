"""alexnet_book.distribution: layouts, the per-device program, and the collectives of the programs it compiles.

The layouts are tested here on any backend (the text parsing of alexnet_book.hlo in test_hlo.py). Everything that
compiles runs in a subprocess on the JAX backend with two virtual CPU devices: XLA_FLAGS must be set before JAX
starts, and this process may already have imported keras with TensorFlow. The subprocess uses tiny networks whose
collectives are known in advance, and prints what it measured as JSON; the tests below check it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from alexnet_book.distribution import (
    compare_losses,
    crossover_batch,
    layout_rules,
    with_grouped_lrn,
    with_lrn,
)
from alexnet_book.layers import GroupedLocalResponseNormalization, LocalResponseNormalization


def test_compare_losses_passes_within_and_fails_beyond_the_tolerance():
    assert compare_losses({"one": [2.0, 1.0], "two": [2.0 * (1 + 1e-7), 1.0]}, "one", 1e-5)["two"] < 1e-6
    with pytest.raises(AssertionError, match="two"):
        compare_losses({"one": 2.0, "two": 2.001}, "one", 1e-5)
    with pytest.raises(AssertionError, match="not finite"):
        compare_losses({"one": 2.0, "two": float("nan")}, "one", 1e-5)


def tiny_chain():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
    x = LocalResponseNormalization(depth_radius=1, alpha=0.5, name="lrn1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", groups=2, activation="relu", name="c2")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4, name="fc")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs)


def test_layout_rules_split_every_kernel_and_bias_on_its_output_channels():
    rules = layout_rules(tiny_chain())
    assert rules == {
        "c1/kernel": (None, None, None, "model"),
        "c1/bias": ("model",),
        "c2/kernel": (None, None, None, "model"),
        "c2/bias": ("model",),
        "c3/kernel": (None, None, None, "model"),
        "c3/bias": ("model",),
        "fc/kernel": (None, "model"),
        "fc/bias": ("model",),
    }
    pinned = layout_rules(tiny_chain(), activations=True)
    assert pinned["c2/output"] == ("batch", None, None, "model") and pinned["lrn1/output"][-1] == "model"
    assert "flatten/output" not in pinned and "softmax/output" not in pinned


def test_with_lrn_swaps_every_lrn_layer_keeping_names_and_constants():
    class Halved(LocalResponseNormalization):
        def window_sum(self, squares):
            return super().window_sum(squares) / 2

    net = tiny_chain()
    copy = with_lrn(net, Halved)
    layer = copy.get_layer("lrn1")
    assert type(layer) is Halved and (layer.depth_radius, layer.alpha) == (1, 0.5)
    assert [type(a).__name__ for a in copy.layers if "lrn" not in a.name] == [
        type(a).__name__ for a in net.layers if "lrn" not in a.name
    ]
    grouped = with_grouped_lrn(net, groups=2).get_layer("lrn1")
    assert isinstance(grouped, GroupedLocalResponseNormalization) and grouped.groups == 2
    assert grouped.lrn.alpha == 0.5


def test_crossover_batch():
    # 100 bytes a step + 1 per image meets 0 + 3 per image at 50 images
    assert crossover_batch(0, 3, 100, 1) == 50
    assert crossover_batch(100, 1, 0, 3) == 50
    assert crossover_batch(0, 1, 100, 3) is None  # fewer bytes at every batch
    assert crossover_batch(0, 2, 100, 2) is None  # parallel lines


# --------------------------------------------------------------------------------------------------------------
# Compiled programs: JAX, two virtual CPU devices, in a subprocess

SCRIPT = textwrap.dedent("""
    import json, os
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, keras, numpy as np
    from keras import distribution as kd
    from alexnet_book import distribution as d, hlo
    from alexnet_book.layers import LocalResponseNormalization

    out = {}
    devices = d.choose_devices(2)
    out["devices"] = devices
    try:
        d.choose_devices(3)
        out["three_devices_error"] = None
    except RuntimeError as error:
        out["three_devices_error"] = str(error)
    mesh = kd.DeviceMesh((1, 2), ("batch", "model"), devices)
    rng = np.random.default_rng(0)
    B = 4

    def state_of(model):
        return [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]

    # 1. Two dense layers: the per-device program gathers fc1's 32 outputs before fc2, and the 8 logits
    #    before the softmax. Nothing else.
    def dense_model():
        inputs = keras.Input((16,))
        x = keras.layers.Dense(32, activation="relu", name="fc1")(inputs)
        x = keras.layers.Dense(8, name="fc2")(x)
        return keras.Model(inputs, keras.layers.Activation("softmax", name="softmax")(x))

    keras.utils.set_random_seed(1)
    reference = dense_model()
    weights = reference.get_weights()
    names = [layer.name for layer in reference.layers]
    x = rng.normal(size=(B, 16)).astype("float32")
    y = rng.integers(0, 8, size=(B,))
    mp = kd.ModelParallel(layout_map=d.build_layout_map(reference, mesh), batch_dim_name="batch")
    with mp.scope():
        mp_model = dense_model()
    mp_model.set_weights(weights)
    kernel = mp_model.get_layer("fc1").kernel.value
    out["mp_fc1_shard"] = list(kernel.sharding.shard_shape(kernel.shape))
    out["mp_held"] = d.bytes_per_device([v.value for v in mp_model.variables])
    out["parameter_bytes"] = int(sum(w.nbytes for w in weights))

    place = lambda dist: [kd.distribute_tensor(a, dist.get_data_layout(a.shape)) for a in (x, y)]
    program = d.per_device_forward(mp_model, mesh)
    trainable = [v.value for v in mp_model.trainable_variables]
    xm, ym = place(mp)
    found = hlo.collectives(d.compiled_hlo(program, trainable, xm), names)
    out["explicit"] = [[op.op, op.layer, op.bytes_sent / B] for op in found]
    out["explicit_probabilities"] = np.asarray(program(trainable, xm)).tolist()
    out["reference_probabilities"] = np.asarray(reference(x)).tolist()

    # the backward pass of the per-device program: each all-gather becomes a reduce-scatter
    def explicit_loss(trainable, xm, ym):
        p = program(trainable, xm)
        return -keras.ops.mean(keras.ops.log(keras.ops.take_along_axis(p, ym[:, None], axis=1)))
    grad_found = hlo.collectives(d.compiled_hlo(jax.jit(jax.grad(explicit_loss)), trainable, xm, ym), names)
    out["explicit_grad"] = [[op.op, op.layer, op.backward, op.bytes_sent / B] for op in grad_found]

    # 2. The same network data-parallel: one step sums every gradient once
    dp = kd.DataParallel(devices=devices)
    with dp.scope():
        dp_model = dense_model()
    dp_model.set_weights(weights)
    out["dp_held"] = d.bytes_per_device([v.value for v in dp_model.variables])
    losses = {}
    for name, model, dist in (("one device", reference, None), ("model parallel", mp_model, mp),
                              ("data parallel", dp_model, dp)):
        _, step = d.loss_and_step(model, dist, learning_rate=0.1)
        state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
        batch = place(dist) if dist else (x, y)
        compiled = step.lower(*state, *batch).compile()
        if name == "data parallel":
            dp_found = hlo.collectives(compiled.as_text(), names)
            out["dp"] = [[op.op, op.result_bytes, op.bytes_sent] for op in dp_found]
        before, new = compiled(*state, *batch)
        after, _ = compiled(new, state[1], *batch)
        losses[name] = [float(before), float(after)]
        out.setdefault("new_fc1_sharding", {})[name] = list(new[0].sharding.spec) if dist else None
    out["losses"] = losses

    # 3. A chain with LRN and a grouped convolution: the per-device program equals the one-device network
    #    with each device's LRN (GroupedLocalResponseNormalization), and the grouped layer exchanges nothing.
    def chain():
        inputs = keras.Input((8, 8, 3))
        h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
        h = LocalResponseNormalization(depth_radius=1, alpha=0.5, name="lrn1")(h)
        h = keras.layers.MaxPooling2D(2, name="pool1")(h)
        h = keras.layers.Conv2D(8, 3, padding="same", groups=2, activation="relu", name="c2")(h)
        h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c3")(h)
        h = keras.layers.Flatten(name="flatten")(h)
        h = keras.layers.Dense(4, name="fc")(h)
        return keras.Model(inputs, keras.layers.Activation("softmax", name="softmax")(h))

    keras.utils.set_random_seed(2)
    net = chain()
    images = (rng.random((B, 8, 8, 3)) * 3).astype("float32")
    cmp = kd.ModelParallel(layout_map=d.build_layout_map(net, mesh), batch_dim_name="batch")
    values = d.place([v.value for v in net.trainable_variables],
                     [cmp.get_variable_layout(v) for v in net.trainable_variables])
    xc = kd.distribute_tensor(images, cmp.get_data_layout(images.shape))
    chain_program = d.per_device_forward(net, mesh)
    chain_names = [layer.name for layer in net.layers]
    out["chain"] = [[op.op, op.layer, op.bytes_sent / B]
                    for op in hlo.collectives(d.compiled_hlo(chain_program, values, xc), chain_names)]
    grouped = d.with_grouped_lrn(net)
    grouped.set_weights(net.get_weights())
    out["chain_lrn_type"] = type(grouped.get_layer("lrn1")).__name__
    explicit = np.asarray(chain_program(values, xc))
    out["chain_vs_grouped"] = float(np.abs(explicit - np.asarray(grouped(images))).max())
    out["chain_vs_plain"] = float(np.abs(explicit - np.asarray(net(images))).max())

    # 4. LRN over the split channels, in the automatic split: the package's band-matrix product gathers every
    #    channel; a windowed sum (a convolution along the channels) exchanges only the depth_radius maps next to
    #    the boundary.
    class WindowedLRN(LocalResponseNormalization):
        def window_sum(self, squares):
            rows = keras.ops.reshape(squares, (-1, squares.shape[-1], 1))
            ones = keras.ops.ones((2 * self.depth_radius + 1, 1, 1))
            return keras.ops.reshape(keras.ops.conv(rows, ones, padding="same"), keras.ops.shape(squares))

    labels = kd.distribute_tensor(np.zeros(B, "int32"), cmp.get_data_layout((B,)))
    out["lrn_exchanges"] = {}
    for label, lrn_class in (("band", LocalResponseNormalization), ("windowed", WindowedLRN)):
        with cmp.scope():
            variant = d.with_lrn(net, lrn_class)
        variant.set_weights(net.get_weights())
        _, variant_step = d.loss_and_step(variant, cmp)
        variant_state = state_of(variant)
        found = hlo.collectives(d.compiled_hlo(variant_step, *variant_state, xc, labels), chain_names)
        out["lrn_exchanges"][label] = [[op.op, op.backward, op.bytes_sent / B] for op in found if op.layer == "lrn1"]
        out.setdefault("lrn_outputs", {})[label] = np.asarray(variant(images)).tolist()

    # 5. A one-device reference on the mesh's first device, while the default device is another one (as on a
    #    one-GPU machine whose mesh is made of CPU devices): DataParallel over that one device keeps the
    #    variables, the batch and the step there, and the step exchanges nothing.
    one = kd.DataParallel(devices=devices[:1])
    home = one.device_mesh.backend_mesh.devices.item()
    with jax.default_device(jax.devices()[1]):
        with one.scope():
            solo = dense_model()
        _, solo_step = d.loss_and_step(solo, one)
        solo_state = state_of(solo)
        solo_batch = place(one)
        out["solo_collectives"] = len(hlo.collectives(d.compiled_hlo(solo_step, *solo_state, *solo_batch), names))
        solo_loss, solo_new = solo_step(*solo_state, *solo_batch)
    out["solo_devices"] = sorted(
        {str(device) for array in [*solo_state[0], *solo_batch, solo_loss, *solo_new] for device in array.devices()}
    )
    out["solo_home"] = str(home)
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def measured():
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    failure = f"the JAX subprocess failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    assert result.returncode == 0 and lines, failure
    return json.loads(lines[-1][len("RESULT ") :])


def test_two_virtual_cpu_devices_and_a_clear_error_for_three(measured):
    assert measured["devices"] == ["cpu:0", "cpu:1"]
    assert "xla_force_host_platform_device_count=3" in measured["three_devices_error"]


def test_model_parallel_holds_half_and_data_parallel_all(measured):
    assert measured["mp_fc1_shard"] == [16, 16]
    assert sorted(measured["mp_held"].values()) == [measured["parameter_bytes"] // 2] * 2
    assert sorted(measured["dp_held"].values()) == [measured["parameter_bytes"]] * 2


def test_per_device_program_gathers_exactly_where_a_layer_reads_all_maps(measured):
    # fc2 gathers fc1's 32 outputs (each device sends its 16 floats per image), softmax the 8 logits (4 floats)
    assert measured["explicit"] == [["all-gather", "fc2", 16 * 4], ["all-gather", "softmax", 4 * 4]]
    np.testing.assert_allclose(measured["explicit_probabilities"], measured["reference_probabilities"], atol=1e-6)


def test_the_backward_pass_mirrors_each_gather_with_a_reduce_scatter_of_the_same_size(measured):
    forward = [(layer, sent) for op, layer, backward, sent in measured["explicit_grad"] if not backward]
    backward = [(op, layer, sent) for op, layer, is_backward, sent in measured["explicit_grad"] if is_backward]
    assert sorted(forward) == [("fc2", 64.0), ("softmax", 16.0)]
    scatters = sorted((layer, sent) for op, layer, sent in backward if op == "reduce-scatter")
    assert scatters == sorted(forward)


def test_data_parallel_step_all_reduces_every_gradient_once(measured):
    reduces = [(result, sent) for op, result, sent in measured["dp"] if op == "all-reduce"]
    assert [op for op, _, _ in measured["dp"]] == ["all-reduce"] * len(reduces)  # nothing else is exchanged
    total = sum(result for result, _ in reduces)
    assert 0 <= total - measured["parameter_bytes"] < 64  # the gradients, and the loss
    assert sum(sent for _, sent in reduces) == total  # ring on two devices: 2 (n - 1) / n = 1


def test_one_device_model_parallel_and_data_parallel_give_the_same_losses(measured):
    losses = measured["losses"]
    assert compare_losses(losses, "one device", 1e-5)["data parallel"] < 1e-5
    assert losses["one device"][1] != losses["one device"][0]  # the step changed the weights
    assert measured["new_fc1_sharding"]["model parallel"] == [None, "model"]  # the update keeps the layout


def test_grouped_layer_exchanges_nothing_and_matches_the_grouped_lrn_network(measured):
    chain = measured["chain"]
    layers = [layer for _, layer, _ in chain]
    assert layers == ["c3", "flatten", "softmax"] and {op for op, _, _ in chain} == {"all-gather"}
    assert chain[0][2] == 4 * 4 * 4 * 4  # c3 gathers c2's 4 x 4 x 8 maps: 4 x 4 x 4 floats from each device
    assert measured["chain_lrn_type"] == "GroupedLocalResponseNormalization"
    assert measured["chain_vs_grouped"] < 1e-6
    assert measured["chain_vs_plain"] > 1e-4  # with the book's LRN across the boundary it differs


def test_a_windowed_lrn_exchanges_only_the_maps_its_window_needs(measured):
    band, windowed = measured["lrn_exchanges"]["band"], measured["lrn_exchanges"]["windowed"]
    # the band-matrix product: an all-gather of lrn1's whole input, 8 x 8 x 8 floats, half sent by each device
    assert any(op == "all-gather" and sent == 8 * 8 * 4 * 4 for op, _, sent in band), band
    # the windowed sum: collective-permutes only; each device sends the other depth_radius = 1 map of 8 x 8 floats,
    # forward and again backward
    assert {op for op, _, _ in windowed} == {"collective-permute"}, windowed
    for backward in (False, True):
        assert sum(sent for _, is_backward, sent in windowed if is_backward == backward) == 1 * 8 * 8 * 4
    np.testing.assert_allclose(measured["lrn_outputs"]["windowed"], measured["lrn_outputs"]["band"], rtol=1e-5)


def test_the_one_device_reference_stays_on_the_meshs_first_device(measured):
    assert measured["solo_collectives"] == 0
    assert measured["solo_devices"] == [measured["solo_home"]]
