"""Torch preprocessing, the sliding window with constant tiles and the uniform-cell export (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.inference.export import logits_to_labels
from nnunetv2_cta.inference.memory import process_age_s
from nnunetv2_cta.inference.preprocess import (
    CTPreprocessing,
    RowsReady,
    banded,
    new_shape,
    nonzero_bbox,
    preprocess_ct,
    resize_weights,
    torch_preprocessing_unsupported,
)
from nnunetv2_cta.inference.sliding import sliding_window_logits, tile_starts

INTENSITIES = {
    "max": 2437.0,
    "mean": 715.5,
    "median": 650.0,
    "min": -601.0,
    "percentile_00_5": 85.0,
    "percentile_99_5": 1723.0,
    "std": 376.3,
}


def _plans(spacing=(1.25, 1.25, 1.25), transpose=(0, 1, 2), **overrides) -> dict:
    """A minimal nnU-Net plans dict with one 3d_fullres configuration (only what preprocessing reads)."""
    resampling = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
    config = {
        "data_identifier": "x",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": [16, 16, 16],
        "median_image_size_in_voxels": [32, 32, 32],
        "spacing": list(spacing),
        "normalization_schemes": ["CTNormalization"],
        "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": resampling,
        "resampling_fn_seg_kwargs": {**resampling, "is_seg": True, "order": 1},
        "resampling_fn_probabilities_kwargs": {**resampling, "order": 1},
        "batch_dice": False,
        "architecture": {"network_class_name": "x", "arch_kwargs": {}, "_kw_requires_import": []},
        **overrides,
    }
    return {
        "dataset_name": "Dataset999_Test",
        "plans_name": "P",
        "original_median_spacing_after_transp": list(spacing),
        "original_median_shape_after_transp": [32, 32, 32],
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": list(transpose),
        "transpose_backward": [int(i) for i in np.argsort(transpose)],
        "configurations": {"3d_fullres": config},
        "experiment_planner_used": "x",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {"0": INTENSITIES},
    }


def _managers(**kwargs):
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    pm = PlansManager(_plans(**kwargs))
    return pm, pm.get_configuration("3d_fullres")


def _ct(shape=(23, 29, 19), seed=0) -> np.ndarray:
    """Air with noise, a bright tube and soft tissue, a zero border (nnU-Net crops it away)."""
    rng = np.random.default_rng(seed)
    ct = rng.normal(-1000, 20, shape).astype(np.float32)
    ct[:, 8:20, 5:15] = rng.normal(40, 30, (shape[0], 12, 10))
    ct[:, 12:15, 9:12] = 600 + rng.normal(0, 50, (shape[0], 3, 3))
    ct[:2] = 0
    ct[:, :, -3:] = 0
    return ct


def test_resize_weights_by_hand():
    # linear, 4 -> 2: output centres at input positions 0.5 and 2.5
    assert resize_weights(4, 2, 1).tolist() == [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]]
    # linear, 2 -> 4: output centres at -0.25 (edge continued), 0.25, 0.75, 1.25 (edge continued)
    assert resize_weights(2, 4, 1).tolist() == [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]
    cubic = resize_weights(700, 280, 3)
    assert np.allclose(cubic.sum(1), 1.0)  # a B-spline keeps constants
    assert np.array_equal(resize_weights(5, 5, 3), np.eye(5))


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [((0, 3), GeometryError, "n_in=0"), ((4, 2, 7), ConfigurationError, "order must be 0..5, got 7")],
)
def test_resize_weights_bad_inputs(args, error, match):
    with pytest.raises(error, match=match):
        resize_weights(*args)


def test_shape_and_crop_by_hand():
    assert new_shape((700, 512, 512), (0.5, 0.5, 0.5), (1.25, 1.25, 1.25)) == (280, 205, 205)
    assert new_shape((33, 10, 10), (2.5, 0.7, 0.7), (1.0, 1.4, 1.4)) == (82, 5, 5)
    volume = np.zeros((5, 6, 7))
    volume[1, 2, 3] = -5.0
    volume[3, 4, 3] = 1.0
    assert nonzero_bbox(volume) == [[1, 4], [2, 5], [3, 4]]
    assert nonzero_bbox(np.zeros((2, 3, 4))) == [[0, 2], [0, 3], [0, 4]]


@pytest.mark.parametrize(
    ("spacing", "transpose"),
    [
        ((0.5, 0.6, 0.7), (0, 1, 2)),
        ((1.3, 2.0, 1.0), (0, 1, 2)),
        ((1.25,) * 3, (0, 1, 2)),
        ((0.5, 0.6, 0.7), (2, 0, 1)),
    ],
)
def test_preprocess_ct_matches_nnunet(spacing, transpose):
    pm, cm = _managers(transpose=transpose)
    ct = _ct()
    kept = ct.copy()
    data, props = preprocess_ct(ct, spacing, pm, cm, slab=5)
    assert np.array_equal(ct, kept)  # the input is not normalised in place
    reference, _, ref_props = cm.preprocessor_class(verbose=False).run_case_npy(
        ct[None].copy(), None, {"spacing": list(spacing)}, pm, cm, {"labels": {"background": 0, "x": 1}}
    )
    assert tuple(data.shape) == reference.shape
    assert float(np.abs(data.numpy() - reference).max()) < 2e-5
    assert props["bbox_used_for_cropping"] == [list(map(int, b)) for b in ref_props["bbox_used_for_cropping"]]
    assert props["shape_after_cropping_and_before_resampling"] == tuple(
        ref_props["shape_after_cropping_and_before_resampling"]
    )


def test_preprocess_ct_bad_inputs():
    pm, cm = _managers()
    with pytest.raises(GeometryError, match=r"3D \[z, y, x\] CT, got shape \(4, 5\)"):
        preprocess_ct(np.zeros((4, 5)), (1, 1), pm, cm)
    with pytest.raises(ConfigurationError, match="slab must be >= 1 slice, got 0"):
        preprocess_ct(np.zeros((4, 5, 6)), (1, 1, 1), pm, cm, slab=0)


LINEAR = {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None}


def test_preprocessing_in_steps_by_hand():
    # 128 slices of 1 mm -> 64 of 2 mm, linear: output row i is the mean of input slices 2i and 2i + 1, so the first
    # block of 32 output rows reads slices 0..63 (4 slabs of 16) and the second slices 64..127; in-plane 1 -> 1 mm
    assert [(r.stop, c.start, c.stop) for r, c, _ in banded(resize_weights(128, 64, 1))] == [
        (32, 0, 64),
        (64, 64, 128),
    ]
    prep = CTPreprocessing.of(*_managers(spacing=(2.0, 1.0, 1.0), resampling_fn_data_kwargs=LINEAR))
    ct = np.random.default_rng(1).uniform(-1000, 2000, (128, 3, 4)).astype(np.float32)
    data, props, steps = prep.start(ct, (1.0, 1.0, 1.0), slab=16)
    assert tuple(data.shape) == (1, 64, 3, 4) and props["bbox_used_for_cropping"] == [
        [0, 128],
        [0, 3],
        [0, 4],
    ]
    data.fill_(float("nan"))  # nothing is computed before the first step
    assert next(steps) == 32
    assert not data[0, :32].isnan().any() and data[0, 32:].isnan().all()  # the second block waits for slab 8
    normalised = (np.clip(ct, 85.0, 1723.0) - INTENSITIES["mean"]) / INTENSITIES["std"]
    by_hand = (normalised[0::2] + normalised[1::2]) / 2
    np.testing.assert_allclose(data[0, :32].numpy(), by_hand[:32], atol=1e-5)
    assert list(steps) == [64]
    np.testing.assert_allclose(data[0].numpy(), by_hand, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "spacing", "transpose", "expected_steps"),
    [
        # slices 0 and 1 are zero and cropped: 98 x 0.5 mm -> 39 rows of 1.25 mm, blocks of 32 rows
        ((100, 20, 18), (0.5, 0.6, 0.7), (0, 1, 2), [32, 39]),
        ((23, 29, 19), (2.0, 0.5, 0.5), (0, 1, 2), [32, 34]),  # 21 x 2 mm -> 34 rows
        # transposed: the first axis is x, 15 of 18 columns non-zero, x 0.7 mm -> 8 rows, one block
        ((90, 20, 18), (0.5, 0.6, 0.7), (2, 0, 1), [8]),
    ],
)
def test_preprocessing_in_steps_gives_the_values_of_preprocessing_at_once(
    shape, spacing, transpose, expected_steps
):
    prep = CTPreprocessing.of(*_managers(transpose=transpose))
    ct = _ct(shape, seed=4)
    reference, ref_props = prep(ct, spacing)
    data, props, steps = prep.start(ct, spacing)
    seen = []
    for ready in steps:
        seen.append(ready)
        assert torch.equal(data[0, :ready], reference[0, :ready])  # rows handed out are final, bit for bit
    assert props == ref_props and torch.equal(data, reference)
    assert seen == expected_steps and seen[-1] == data.shape[1]


def test_rows_ready_waits_for_the_producer_and_reports_its_error():
    import threading
    import time

    rows = RowsReady(10)
    rows.publish(3)
    rows.wait(3)  # final already: returns at once
    got = []
    waiter = threading.Thread(target=lambda: (rows.wait(8), got.append(rows.ready)))
    waiter.start()
    time.sleep(0.05)
    rows.publish(5)
    time.sleep(0.05)
    assert waiter.is_alive() and got == []  # 5 of the 8 rows it needs
    rows.publish(12)  # more than there are: all 10
    waiter.join(5)
    assert got == [10]
    failed = RowsReady(4)
    failed.publish(2)
    failed.fail(ValueError("disk full"))
    failed.wait(2)  # rows final before the failure stay usable
    with pytest.raises(RuntimeError, match="preprocessing stopped: disk full"):
        failed.wait(3)


def test_torch_preprocessing_refuses_other_plans():
    assert torch_preprocessing_unsupported(*_managers(), 1) is None
    why = torch_preprocessing_unsupported(*_managers(normalization_schemes=["ZScoreNormalization"]), 2)
    assert "2 input channels" in why and "ZScoreNormalization" in why
    assert "anisotropic spacing" in torch_preprocessing_unsupported(*_managers(spacing=(4.0, 1.0, 1.0)), 1)


def test_tile_starts_by_hand():
    assert tile_starts((110,), (64,), 0.5) == [[0, 23, 46]]
    assert tile_starts((16, 8), (8, 8), 0.5) == [[0, 4, 8], [0]]
    with pytest.raises(ConfigurationError, match="tile step must be in"):
        tile_starts((16,), (8,), 0.0)
    with pytest.raises(GeometryError, match="at least the patch"):
        tile_starts((6,), (8,), 0.5)


def _pointwise(x: torch.Tensor) -> torch.Tensor:
    """A 'network' whose output at a voxel depends on that voxel only: blending gives it back exactly."""
    return torch.cat([2 * x + 1, -x], dim=1)


def test_sliding_window_constant_tiles_are_reused():
    data = torch.full((1, 16, 8, 8), -1.5)  # 'air' after CT normalisation
    data[0, 14, 3, 3] = 2.0  # one bright voxel in the last tile only
    calls = []

    def network(x):
        calls.append(x.shape[0])
        return _pointwise(x)

    logits, counts = sliding_window_logits(network, data, (8, 8, 8), 2, step=0.5, batch_size=4)
    # z tiles start at 0, 4, 8: tiles 0 and 1 are constant (one network run, one reuse), tile 2 runs
    assert counts.to_dict() == {"total": 3, "run": 2, "reused": 1, "saved_fraction": 0.3333}
    assert sum(calls) == 2
    assert torch.allclose(logits, _pointwise(data[None])[0], atol=1e-5)


def test_sliding_window_waits_for_the_rows_of_each_tile_and_marks_the_first_tile():
    import threading

    full = torch.randn((1, 40, 8, 8), generator=torch.Generator().manual_seed(5))
    expected, _ = sliding_window_logits(_pointwise, full, (16, 8, 8), 2, step=0.5, batch_size=1)
    data = torch.full_like(full, float("nan"))
    rows, waited, events = RowsReady(40), [], []

    def wait(n):
        waited.append(n)
        rows.wait(n)

    def network(x):
        events.append("network")
        return _pointwise(x)

    def fill():
        for start in range(0, 40, 4):
            data[0, start : start + 4] = full[0, start : start + 4]
            rows.publish(start + 4)

    producer = threading.Thread(target=fill)
    producer.start()
    logits, counts = sliding_window_logits(
        network,
        data,
        (16, 8, 8),
        2,
        step=0.5,
        batch_size=1,
        wait_rows=wait,
        on_first_tile=lambda: events.append("first tile"),
    )
    producer.join()
    assert torch.equal(logits, expected)
    # 40 rows, patch 16, step 8: z tiles start at 0, 8, 16, 24 and each waits for its last row
    assert waited == [16, 24, 32, 40]
    assert events == ["first tile"] + ["network"] * 4 and counts.run == 4
    # a volume smaller than the patch is padded (copied): it waits for all its rows first
    small, waited = torch.zeros((1, 5, 6, 7)), []
    sliding_window_logits(_pointwise, small, (8, 8, 8), 2, wait_rows=waited.append)
    assert waited == [5]


def test_sliding_window_pads_a_small_volume_and_checks_inputs():
    data = torch.arange(5 * 6 * 7, dtype=torch.float32).reshape(1, 5, 6, 7) / 100
    logits, counts = sliding_window_logits(_pointwise, data, (8, 8, 8), 2)
    assert logits.shape == (2, 5, 6, 7) and counts.total == 1
    assert torch.allclose(logits, _pointwise(data[None])[0], atol=1e-5)
    with pytest.raises(GeometryError, match="need data"):
        sliding_window_logits(_pointwise, data[0], (8, 8, 8), 2)
    with pytest.raises(ConfigurationError, match="batch_size must be >= 1, got 0"):
        sliding_window_logits(_pointwise, data, (8, 8, 8), 2, batch_size=0)


@pytest.mark.parametrize("regions", [False, True])
@pytest.mark.parametrize("shape", [(30, 41, 23), (13, 17, 11), (7, 40, 5)])
def test_uniform_cells_give_the_labels_of_full_interpolation(regions, shape):
    gen = torch.Generator().manual_seed(3)
    channels = 5 if regions else 3
    coarse = torch.randn((1, channels, 6, 7, 5), generator=gen) * 3
    logits = torch.nn.functional.interpolate(coarse, size=(13, 17, 11), mode="trilinear")[0]
    kw = (
        {"regions": [(1,), (2, 3, 4), (2,), (3,), (4,)], "regions_class_order": (1, 3, 2, 3, 4)}
        if regions
        else {}
    )
    fast = logits_to_labels(logits, shape, uniform_cells=True, slab=4, **kw)
    full = logits_to_labels(logits, shape, uniform_cells=False, **kw)
    assert np.array_equal(fast, full)
    assert len(np.unique(fast)) == channels  # every label occurs: the test crosses many boundaries


def test_uniform_cells_by_hand():
    # two model voxels along x (labels 0 | 1 by argmax), four output voxels: sources -0.25, 0.25, 0.75, 1.25
    logits = torch.tensor([[[[1.0, -2.0]]], [[[0.0, 0.0]]]])  # (C=2, z=1, y=1, x=2)
    # class-0 margin 1 - 3t at t = 0, 0.25, 0.75, 1 -> labels 0, 0, 1, 1
    assert logits_to_labels(logits, (1, 1, 4)).tolist() == [[[0, 0, 1, 1]]]


def test_process_age_is_positive():
    age = process_age_s()
    assert age is None or age > 0


def test_find_nnunet_trainer_imports_only_the_defining_module():
    from nnunetv2_cta.inference.model import find_nnunet_trainer

    cls = find_nnunet_trainer(
        "nnUNetTrainer_250epochs"
    )  # defined in nnUNetTrainer_Xepochs.py, not its own file
    assert cls.__name__ == "nnUNetTrainer_250epochs"
    assert cls.__module__.endswith("training_length.nnUNetTrainer_Xepochs")
    assert find_nnunet_trainer("nnUNetTrainerNoSuchVariant") is None


def test_reader_reads_one_case_ahead_and_reports_a_bad_case_at_its_turn(tmp_path):
    from nnunetv2_cta.errors import DatasetFormatError
    from nnunetv2_cta.inference.inputs import find_inputs
    from nnunetv2_cta.inference.reader import Reader
    from nnunetv2_cta.io import Geometry, write_image

    ct = np.full((4, 5, 6), -1000, np.int16)
    ct[1:3, 2:4, 2:5] = 300
    for name, image in (("a", ct), ("b", np.zeros((4, 5, 6), np.int16)), ("c", ct + 1)):
        write_image(tmp_path / "in" / f"{name}.nii.gz", image, Geometry((1.0, 2.0, 3.0)))
    (tmp_path / "out" / "cases" / "c").mkdir(parents=True)
    (tmp_path / "out" / "cases" / "c" / "record.json").write_text("{}")  # done: not read ahead
    cases = find_inputs(tmp_path / "in")
    reader = Reader(tmp_path / "out", cases, overwrite=False)
    try:
        assert list(reader._pending) == ["a"]  # the first case is queued at once
        first = reader.read(cases[0])
        assert first.ct.dtype == np.int16 and first.ct[1, 2, 2] == 300  # as stored: int16 is exact in float32
        assert first.geometry.spacing == (1.0, 2.0, 3.0) and first.grid is None  # no preprocessing given
        assert list(reader._pending) == ["b"]  # the next case to do is queued; "c" has a record
        with pytest.raises(DatasetFormatError, match="does not look like CT in HU"):
            reader.read(cases[1])  # b (all zeros) fails when its turn comes, not before
        assert reader._pending == {}
    finally:
        reader.close()


def test_reader_preprocesses_ahead_once_given_the_preprocessing(tmp_path):
    from nnunetv2_cta.inference.inputs import find_inputs
    from nnunetv2_cta.inference.reader import Reader
    from nnunetv2_cta.io import Geometry, write_image

    ct = _ct((40, 29, 19), seed=6)
    for name in ("a", "b"):
        write_image(tmp_path / "in" / f"{name}.nii.gz", ct, Geometry((0.5, 0.6, 0.7)))
    cases = find_inputs(tmp_path / "in")
    prep = CTPreprocessing.of(*_managers())
    reference, props = prep(ct, (0.5, 0.6, 0.7))
    reader = Reader(tmp_path / "out", cases, overwrite=False)
    try:
        reader.preprocess_with(prep)  # after the first case was queued: it is preprocessed too
        for case in cases:
            read = reader.read(case)
            assert read.grid is not None and read.grid.preprocessing == prep
            read.grid.rows.wait(read.grid.rows.total)
            assert (
                torch.equal(read.grid.data, reference)
                and read.grid.props["bbox_used_for_cropping"] == (props["bbox_used_for_cropping"])
            )
            assert read.seconds["read"] >= 0 and read.seconds["preprocess"] >= 0
    finally:
        reader.close()


def test_load_input_keeps_small_integers_as_stored_on_request(tmp_path):
    from nnunetv2_cta.inference.inputs import InputCase, load_input
    from nnunetv2_cta.io import Geometry, write_image

    values = np.full((3, 4, 5), -1000)
    values[1] = 300
    # int16 (up to 16 bits) is kept; int32 (not every value exact in float32) and float64 become float32
    for dtype, kept in ((np.int16, np.int16), (np.int32, np.float32), (np.float64, np.float32)):
        path = write_image(
            tmp_path / f"{np.dtype(dtype).name}.nii.gz", values.astype(dtype), Geometry((1, 1, 1))
        )
        ct, _ = load_input(InputCase("x", path), stored_integers=True)
        assert ct.dtype == kept and np.array_equal(ct, values)
        assert load_input(InputCase("x", path))[0].dtype == np.float32  # the default: float32 always
