"""Labels against the vessel graph: radius, region borders, tree connectivity, bone contact."""

from __future__ import annotations

import cc3d
import numpy as np
import pytest
from scipy import ndimage

from nnunetv2_cta.labels import AORTA, BONE, CAROTID, INTRACRANIAL, VESSEL_LABELS


def _arteries(graph):
    return [s for s in graph["segments"] if s["kind"] == "artery"]


def test_every_vessel_voxel_lies_within_the_radius_of_its_own_region(cta_case, geo_tools):
    g = cta_case.graph
    h = g["label_min_radius_mm"]
    assert h == pytest.approx(0.5 * np.sqrt(3) * 3.0)
    vessel = np.isin(cta_case.labels, VESSEL_LABELS)
    pts = geo_tools.world_coords(cta_case, vessel)
    margin, _, _ = geo_tools.distance_to_graph(pts, _arteries(g))
    # labelled iff within max(r, h) of a centreline: d - r <= max(0, h - r) <= h
    assert np.all(margin <= h + 1e-3), margin.max()
    # most voxels are inside the true lumen radius itself (big vessels dominate)
    assert np.mean(margin <= 1e-3) > 0.5
    # each voxel has the label of a segment that contains it (checked per region)
    for lab in VESSEL_LABELS:
        sel = cta_case.labels[vessel] == lab
        own = [s for s in _arteries(g) if s["label"] == lab]
        m_own, _, _ = geo_tools.distance_to_graph(pts[sel], own)
        assert np.all(m_own <= h + 1e-3), (lab, m_own.max())


def test_centerlines_are_labelled(cta_case):
    """Every graph point inside the grid falls on a voxel of its own label (or a neighbouring region at a border)."""
    g, geo = cta_case.graph, cta_case.geometry
    for seg in _arteries(g):
        if seg.get("pathology") in ("occlusion", "coiled_aneurysm"):
            continue
        p = np.asarray(seg["points"])
        # voxels of points within one voxel of an end may lie across a region border
        h = g["label_min_radius_mm"]
        inner = (np.linalg.norm(p - p[0], axis=1) > h) & (np.linalg.norm(p - p[-1], axis=1) > h)
        idx = np.rint((p - np.asarray(geo.origin)) / np.asarray(geo.spacing[::-1]))[:, ::-1].astype(int)
        ok = np.all((idx >= 0) & (idx < np.asarray(cta_case.labels.shape)), axis=1) & inner
        vals = cta_case.labels[tuple(idx[ok].T)]
        if len(vals) == 0:  # a segment shorter than two voxels
            continue
        assert np.mean(vals == seg["label"]) > 0.9, seg["name"]
        assert np.all(np.isin(vals, VESSEL_LABELS)), seg["name"]


def _design_components(segments, label, *, proximity: float | None = None, h: float = 0.0):
    names = [s["name"] for s in segments if s["label"] == label]
    parent = {n: n for n in names}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    by_name = {s["name"]: s for s in segments}
    for s in segments:
        if s["label"] != label:
            continue
        for other in [s.get("parent"), *s.get("connects_to", [])]:
            if other in parent:
                parent[find(s["name"])] = find(other)
    if proximity is not None:
        for i, a in enumerate(names):
            pa, ra = np.asarray(by_name[a]["points"]), np.maximum(by_name[a]["radii"], h)
            for b in names[i + 1 :]:
                pb, rb = np.asarray(by_name[b]["points"]), np.maximum(by_name[b]["radii"], h)
                d = np.linalg.norm(pa[:, None] - pb[None], axis=-1) - ra[:, None] - rb[None]
                if d.min() <= proximity:
                    parent[find(a)] = find(b)
    return len({find(n) for n in names})


def test_vessel_regions_are_the_designed_trees(cta_case):
    g = cta_case.graph
    arteries = _arteries(g)
    s = cta_case.geometry.spacing[0]
    for lab in VESSEL_LABELS:
        n = cc3d.connected_components(cta_case.labels == lab, connectivity=26, return_N=True)[1]
        designed = _design_components(arteries, lab)
        merged = _design_components(arteries, lab, proximity=np.sqrt(3) * s, h=g["label_min_radius_mm"])
        assert merged <= n <= designed, (lab, n, designed, merged)
    # the textbook anatomy: the arch is one piece, the neck has three systems (BCT, LCCA, LSA), the head one
    assert _design_components(arteries, AORTA) == 1
    assert _design_components(arteries, CAROTID) == 3
    assert _design_components(arteries, INTRACRANIAL) == 1
    whole = np.isin(cta_case.labels, VESSEL_LABELS)
    assert cc3d.connected_components(whole, connectivity=26, return_N=True)[1] == 1


def test_region_borders_are_planes_where_documented(cta_case):
    g, lab = cta_case.graph, cta_case.labels
    z = cta_case.geometry.origin[2] + cta_case.geometry.spacing[0] * np.arange(lab.shape[0])
    z_ao, z_sb = g["borders"]["aorta_top_mm"], g["borders"]["skull_base_mm"]
    s = cta_case.geometry.spacing[0]
    aorta_z = z[np.any(lab == AORTA, axis=(1, 2))]
    assert aorta_z.max() <= z_ao + s
    # the carotid region is everything between; intracranial starts at the skull base (ECA branches aside)
    ica = [
        seg
        for seg in g["segments"]
        if seg["name"] in ("L_ICA_intracranial", "R_ICA_intracranial", "L_VA_V4", "R_VA_V4")
    ]
    assert len(ica) == 4
    for seg in ica:
        assert seg["points"][0][2] == pytest.approx(z_sb, abs=1e-3)
    intra_z = z[np.any(lab == INTRACRANIAL, axis=(1, 2))]
    assert intra_z.min() >= z_sb - 2 * s


def test_bone_touches_vessels_in_the_carotid_canal_and_the_vertebral_foramina(cta_case, standard_anatomy):
    lab = cta_case.labels
    geo = cta_case.geometry
    z_sb = standard_anatomy.levels["skull_base_mm"]
    bone_near = ndimage.binary_dilation(lab == BONE, np.ones((3, 3, 3), bool))
    for name, zlo, zhi in (
        ("L_ICA_intracranial", z_sb, z_sb + 8),
        ("R_ICA_intracranial", z_sb, z_sb + 8),
        (
            "L_VA_extracranial",
            standard_anatomy.levels["vertebra_C5_mm"],
            standard_anatomy.levels["vertebra_C2_mm"],
        ),
        (
            "R_VA_extracranial",
            standard_anatomy.levels["vertebra_C5_mm"],
            standard_anatomy.levels["vertebra_C2_mm"],
        ),
    ):
        seg = next(s for s in cta_case.graph["segments"] if s["name"] == name)
        p = np.asarray(seg["points"])
        p = p[(p[:, 2] >= zlo) & (p[:, 2] <= zhi)]
        idx = np.rint((p - np.asarray(geo.origin)) / np.asarray(geo.spacing[::-1]))[:, ::-1].astype(int)
        touching = bone_near[tuple(idx.T)]
        assert touching.mean() > 0.5, (name, touching.mean())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_variants_keep_the_tree_rules(seed):
    from nnunetv2_cta.phantom import generate_anatomy, render_case

    case = render_case(generate_anatomy(seed, preset="tiny", variants=None), "ncct")
    arteries = _arteries(case.graph)
    s = case.geometry.spacing[0]
    for lab in VESSEL_LABELS:
        n = cc3d.connected_components(case.labels == lab, connectivity=26, return_N=True)[1]
        designed = _design_components(arteries, lab)
        merged = _design_components(
            arteries, lab, proximity=np.sqrt(3) * s, h=case.graph["label_min_radius_mm"]
        )
        assert merged <= n <= designed, (seed, lab, n, designed, merged, case.graph["variants"])
    whole = np.isin(case.labels, VESSEL_LABELS)
    assert cc3d.connected_components(whole, connectivity=26, return_N=True)[1] == 1
