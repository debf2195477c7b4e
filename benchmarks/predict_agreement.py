"""Do the fast paths of ``StageModel`` (torch preprocessing, constant-tile reuse, uniform-cell export) give nnU-Net's
labels? One trained model, several CTs (the phantom and the real scans in ``../shared/data/real``).

Per input: ``ours`` = ``StageModel.predict`` as ``nnunetv2_cta predict`` runs it; ``reference`` = nnU-Net's own
preprocessor, nnU-Net's sliding window (``predict_logits_from_preprocessed_data``: every tile run, float16
accumulation) and the full trilinear export. Recorded: the largest difference of the preprocessed volumes
(normalised units), the voxels whose label differs, the tiles reused, and the times of both.

    python benchmarks/predict_agreement.py --model MODEL_FOLDER --out agreement.json IMAGE [IMAGE ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def compare(model, path: Path, crop: slice | None) -> dict:
    """One input: both paths, their differences and times."""
    from nnunetv2_cta.inference.export import logits_to_labels
    from nnunetv2_cta.io import read_image

    ct, geometry = read_image(path)
    ct = np.ascontiguousarray(ct[crop] if crop else ct, dtype=np.float32)
    t0 = time.perf_counter()
    ours_grid = model.preprocess(ct, geometry)
    t_pre = time.perf_counter() - t0
    ours_logits = model.logits(ours_grid.data)
    t_ours = time.perf_counter() - t0
    ours = model.export(ours_logits, ours_grid.props)
    tiles = model.last_tiles.to_dict()

    reason, model.torch_preprocessing_unsupported = model.torch_preprocessing_unsupported, "reference run"
    t0 = time.perf_counter()
    ref_grid = model.preprocess(ct, geometry)
    t_ref_pre = time.perf_counter() - t0
    ref_logits = model.predictor.predict_logits_from_preprocessed_data(ref_grid.data).float()
    t_ref = time.perf_counter() - t0
    model.torch_preprocessing_unsupported = reason
    lm = model.label_manager
    cropped = logits_to_labels(
        ref_logits,
        ref_grid.props["shape_after_cropping_and_before_resampling"],
        regions=lm.foreground_regions if lm.has_regions else None,
        regions_class_order=lm.regions_class_order if lm.has_regions else None,
        uniform_cells=False,
    )
    reference = np.zeros(ref_grid.props["shape_before_cropping"], dtype=np.uint8)
    reference[tuple(slice(a, b) for a, b in ref_grid.props["bbox_used_for_cropping"])] = cropped
    reference = reference.transpose(model.predictor.plans_manager.transpose_backward)
    return {
        "input": str(path),
        "crop_z": None if crop is None else [crop.start, crop.stop],
        "shape_zyx": list(ct.shape),
        "model_grid": list(ours_grid.data.shape[1:]),
        "preprocess_max_abs_diff": float((ours_grid.data - ref_grid.data).abs().max()),
        "logits_max_abs_diff": float((ours_logits - ref_logits).abs().max()),
        "differing_label_voxels": int((ours != reference).sum()),
        "voxels": int(ours.size),
        "label_counts": np.bincount(ours.ravel(), minlength=5).tolist(),
        "tiles": tiles,
        "seconds": {
            "ours_preprocess": round(t_pre, 2),
            "ours_preprocess_and_network": round(t_ours, 2),
            "nnunet_preprocess": round(t_ref_pre, 2),
            "nnunet_preprocess_and_network": round(t_ref, 2),
        },
    }


def against_stock(model, path: Path, stock: Path) -> dict:
    """Our stage-1 logits decoded with our rule and with nnU-Net's overwrite rule, each against stock's labels.

    Separates what the decoding rule changes (by design: :class:`~nnunetv2_cta.inference.export.RegionDecoder`)
    from what the fast paths change.
    """
    from nnunetv2_cta.inference.export import logits_to_labels
    from nnunetv2_cta.io import read_image

    ct, geometry = read_image(path)
    ct = np.asarray(ct, dtype=np.float32)
    grid = model.preprocess(ct, geometry)
    logits = model.logits(grid.data)
    reference, _ = read_image(stock)
    lm = model.label_manager
    result = {"input": str(path), "stock": str(stock), "voxels": int(reference.size)}
    rules = {"ours": lm.foreground_regions, "nnunet_overwrite": None}
    for rule, regions in rules.items():
        labels = np.zeros(grid.props["shape_before_cropping"], dtype=np.uint8)
        box = tuple(slice(a, b) for a, b in grid.props["bbox_used_for_cropping"])
        labels[box] = logits_to_labels(
            logits,
            grid.props["shape_after_cropping_and_before_resampling"],
            regions=regions,
            regions_class_order=lm.regions_class_order,
        )
        differ = labels != reference
        pairs, counts = np.unique(
            np.stack([labels[differ], reference[differ]], 1), axis=0, return_counts=True
        )
        result[rule] = {
            "differing_voxels": int(differ.sum()),
            "pairs_ours_stock": {f"{a}->{b}": int(c) for (a, b), c in zip(pairs, counts)},
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--crop-z", default=None, help="start:stop slices of every input (e.g. 300:420)")
    ap.add_argument("--stock", default=None, help="stock nnUNetv2_predict's label map of the (one) image")
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()
    from nnunetv2_cta.inference.model import StageModel

    model = StageModel(args.model, mirroring=False, tile_step_size=0.5)
    crop = slice(*(int(v) for v in args.crop_z.split(":"))) if args.crop_z else None
    rows = []
    if args.stock:
        rows.append(against_stock(model, Path(args.images[0]), Path(args.stock)))
        print(json.dumps(rows[-1]), flush=True)
        Path(args.out).write_text(json.dumps({"model": args.model, "rows": rows}, indent=2))
        return
    for image in args.images:
        rows.append(compare(model, Path(image), crop))
        print(json.dumps(rows[-1]), flush=True)
        Path(args.out).write_text(json.dumps({"model": args.model, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
