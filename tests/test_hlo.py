"""alexnet_book.hlo: the collectives of a compiled program read from its text, and the bytes they move.

On a program in miniature written here; tests/test_distribution.py reads programs that JAX compiled.
"""

from __future__ import annotations

from alexnet_book.hlo import Collective, collectives, communication_table, operations, shape_bytes, split_by_batch

# A compiled program in miniature: the notations XLA uses for groups, a combined all-reduce (a tuple),
# an asynchronous all-gather (start and done: one op), and a fusion that only reads a collective's result.
HLO = "\n".join(
    [
        "HloModule jit_step",
        "ENTRY %main {",
        "  %all-gather.3 = f32[2,27,27,96]{2,1,0,3} all-gather(%x), channel_id=4,"
        " replica_groups=mesh['axis_0'=1,'axis_1'=2] {'axis_1'}, dimensions={3}, use_global_device_ids=true,"
        ' metadata={op_name="jit(step)/jvp(conv2)/conv_general_dilated" stack_frame_id=29}',
        "  %fusion.1 = f32[2,27,27,96]{3,2,1,0} fusion(%all-gather.3), kind=kLoop, calls=%wrapped,"
        ' metadata={op_name="jit(step)/jvp(conv2)/conv_general_dilated"}',
        "  %convolution.19 = f32[2,27,27,256]{3,2,1,0} convolution(%fusion.1, %k), window={size=5x5 pad=2_2x2_2},"
        " dim_labels=b01f_01io->b01f, feature_group_count=2,"
        ' metadata={op_name="jit(step)/jvp(conv2)/conv_general_dilated"}',
        "  %all-reduce.17 = (f32[], f32[11,11,3,96]{3,2,1,0}) all-reduce(%a, %b), channel_id=9,"
        " replica_groups=[1,2]<=[2], to_apply=%add,"
        ' metadata={op_name="jit(step)/transpose(jvp(conv1))/conv_general_dilated"}',
        "  %ag-start = (f32[4,8]{1,0}, f32[16,8]{1,0}) all-gather-start(%p), replica_groups={{0,1,2,3}},"
        ' dimensions={0}, metadata={op_name="jit(f)/fc7/dot_general"}',
        '  %ag-done = f32[16,8]{1,0} all-gather-done(%ag-start), metadata={op_name="jit(f)/fc7/dot_general"}',
        "  %cp = bf16[16]{0} collective-permute(%q), channel_id=2, source_target_pairs={{0,1},{1,0}}",
        "  %halo = f32[6050,2,1]{2,1,0} collective-permute(%s), channel_id=3, source_target_pairs={{0,1}},"
        ' metadata={op_name="jit(step)/jvp(lrn1)/conv_general_dilated"}',
        "  ROOT %rs = f32[4]{0} reduce-scatter(%r), replica_groups={{0,1}}, dimensions={0}, to_apply=%add",
        "}",
    ]
)
LAYERS = ["conv1", "conv2", "lrn1", "fc7"]


def test_collectives_are_read_with_their_shapes_groups_and_layers():
    found = collectives(HLO, LAYERS)
    kinds = ["all-gather", "all-reduce", "all-gather", "collective-permute", "collective-permute", "reduce-scatter"]
    assert [op.op for op in found] == kinds
    gather, reduce, async_gather, permute, halo, scatter = found
    assert gather.shapes == ("f32[2,27,27,96]",) and gather.result_bytes == 2 * 27 * 27 * 96 * 4
    assert (gather.group_size, gather.layer, gather.backward) == (2, "conv2", False)
    assert reduce.result_bytes == 4 + 11 * 11 * 3 * 96 * 4 and reduce.group_size == 2
    assert (reduce.layer, reduce.backward) == ("conv1", True)
    assert async_gather.shapes == ("f32[16,8]",) and async_gather.group_size == 4  # counted once, at -done
    assert async_gather.layer == "fc7"
    assert permute.result_bytes == 32 and permute.layer == "other"  # bf16: 2 bytes
    assert (permute.pairs, permute.group_size) == (2, 2)
    assert (halo.pairs, halo.group_size, halo.layer) == (1, 2, "lrn1")
    assert scatter.group_size == 2


def test_bytes_sent_follow_the_ring_algorithms():
    gather, reduce, async_gather, permute, halo, scatter = collectives(HLO, LAYERS)
    assert gather.bytes_sent == gather.result_bytes / 2
    assert reduce.bytes_sent == reduce.result_bytes  # 2 (n - 1) / n with n = 2
    assert async_gather.bytes_sent == 16 * 8 * 4 * 3 / 4
    assert permute.bytes_sent == 32  # both devices send their 32 bytes
    assert halo.bytes_sent == 6050 * 2 * 4 / 2  # device 0 sends, device 1 does not: half on average
    assert scatter.bytes_sent == 16  # one share to the one other device
    alone = Collective("all-reduce", ("f32[8]",), 32, 1, "other", False, "")
    assert alone.bytes_sent == 0


def test_shape_bytes_of_tuples_and_element_types():
    assert shape_bytes("(f32[2,3]{1,0}, bf16[4]{0}, pred[8]{0}, s8[3])") == 24 + 8 + 8 + 3
    assert shape_bytes("f32[]") == 4
    assert shape_bytes("token[]") == 0


def test_communication_table_and_split_by_batch():
    table = communication_table(collectives(HLO, LAYERS), per=2)
    assert table["conv2"] == {"ops": 1, "kinds": ["all-gather"], "bytes": 27 * 27 * 96 * 4 / 2}
    assert table["other"]["ops"] == 2 and table["other"]["kinds"] == ["collective-permute", "reduce-scatter"]
    assert table["lrn1"] == {"ops": 1, "kinds": ["collective-permute"], "bytes": 6050 * 2 * 4 / 2 / 2}
    small = {
        "conv2": {"ops": 2, "kinds": ["all-gather"], "bytes": 1000.0 + 2 * 50},
        "fc7": {"ops": 1, "kinds": ["all-gather"], "bytes": 2 * 8.0},
    }
    large = {
        "conv2": {"ops": 2, "kinds": ["all-gather"], "bytes": 1000.0 + 4 * 50},
        "fc7": {"ops": 1, "kinds": ["all-gather"], "bytes": 4 * 8.0},
    }
    split = split_by_batch(small, large, 2, 4)
    assert split["conv2"]["per_image"] == 50 and split["conv2"]["per_step"] == 1000
    assert split["fc7"]["per_image"] == 8 and split["fc7"]["per_step"] == 0


def test_operations_reads_grouped_convolutions():
    (conv,) = operations(HLO, "convolution", LAYERS)
    assert conv == {"layer": "conv2", "shape": "f32[2,27,27,256]", "feature_group_count": 2, "backward": False}
