"""The generator: draw one patient's numbers, run the region builders in a fixed order, split the regions.

The order below is part of the output (every builder draws from one RNG); changing it changes every
phantom of every seed, which ``tests/phantom/test_reference_outputs.py`` would report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.phantom.anatomy.bone_shapes import make_bones
from nnunetv2_cta.phantom.anatomy.builder import Patient, SegmentBuilder
from nnunetv2_cta.phantom.anatomy.intracranial import add_circle_of_willis, add_distal_trees
from nnunetv2_cta.phantom.anatomy.neck_arteries import add_arch_and_trunks, add_carotids
from nnunetv2_cta.phantom.anatomy.parts import VARIANT_PROBABILITY, VARIANTS, Anatomy, Finding
from nnunetv2_cta.phantom.anatomy.pathologies import apply_pathologies, check_pathologies, dental_fillings
from nnunetv2_cta.phantom.anatomy.region_split import split_regions
from nnunetv2_cta.phantom.anatomy.soft_tissue import air_cavities, body_outline, soft_organs
from nnunetv2_cta.phantom.anatomy.veins import add_cortical_veins, add_dural_veins
from nnunetv2_cta.phantom.anatomy.vertebrobasilar import add_vertebrobasilar
from nnunetv2_cta.phantom.presets import get_preset

logger = logging.getLogger(__name__)

VERTEBRAE: tuple[str, ...] = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3", "T4")


def choose_variants(rng: np.random.Generator, variants: Sequence[str] | None) -> tuple[str, ...]:
    """The anatomical variants of one patient: drawn with :data:`VARIANT_PROBABILITY` when ``variants`` is
    ``None``, else the named ones checked; combinations that would cut a territory off are resolved in
    favour of the first named. Returned in the order of :data:`VARIANTS`."""
    if variants is None:
        chosen = [v for v in VARIANTS if rng.uniform() < VARIANT_PROBABILITY[v]]
    else:
        if isinstance(variants, str):
            raise ConfigurationError(f"variants must be a sequence of names, got the string {variants!r}")
        bad = [v for v in variants if v not in VARIANTS]
        if bad:
            raise ConfigurationError(f"unknown anatomical variant(s) {bad!r}; valid: {list(VARIANTS)}")
        chosen = list(dict.fromkeys(variants))
    for side in ("l", "r"):
        if f"fetal_{side}_pca" in chosen and f"no_{side}_pcom" in chosen:
            chosen.remove(f"no_{side}_pcom")
    if "no_acom" in chosen and ("no_l_a1" in chosen or "no_r_a1" in chosen):
        chosen.remove("no_acom")
    if "no_l_a1" in chosen and "no_r_a1" in chosen:
        chosen.remove("no_r_a1")
    return tuple(v for v in VARIANTS if v in chosen)


def draw_patient(rng: np.random.Generator, variants: tuple[str, ...]) -> Patient:
    """Levels (arch, skull base, bifurcation, Circle of Willis, vertebrae), head size and skull thickness,
    tortuosity, radius scale and the dominant side, drawn in this order."""
    z_arch = 40.0 + rng.uniform(-3, 3)
    z_sb = 185.0 + rng.uniform(-4, 4)
    z_bif = z_sb - 57.0 + rng.uniform(-8, 8)
    z_cow = z_sb + 28.0 + rng.uniform(-2, 2)
    vert_z = {name: z_sb - 9.0 - 16.0 * k for k, name in enumerate(VERTEBRAE)}
    g = rng.uniform(0.95, 1.05)
    brain_a = np.array([66.0, 84.0, 76.0]) * g
    skull_t = rng.uniform(5.5, 8.0)
    inner_a = brain_a + 1.0
    return Patient(
        z_arch=z_arch,
        z_sb=z_sb,
        z_bif=z_bif,
        z_cow=z_cow,
        vert_z=vert_z,
        brain_c=np.array([0.0, 12.0, z_sb + 47.0]),
        brain_a=brain_a,
        inner_a=inner_a,
        outer_a=inner_a + skull_t,
        tort=rng.uniform(0.3, 1.0),
        rs=rng.uniform(0.9, 1.1),
        dominant=rng.choice([-1.0, 1.0]),
        variants=variants,
    )


def generate_anatomy(
    seed: int,
    *,
    preset: str = "train",
    pathologies: Sequence[str] = (),
    variants: Sequence[str] | None = None,
) -> Anatomy:
    """Generate one head-and-neck anatomy from a seed.

    Args:
        seed: any non-negative int; the same seed, preset and arguments give the same anatomy.
        preset: ``"tiny"``, ``"train"`` or ``"clinical"`` (sets how finely distal trees branch, see
            :mod:`~nnunetv2_cta.phantom.presets`).
        pathologies: names from :data:`PATHOLOGIES` to place (one of each, site drawn from the seed).
        variants: names from :data:`VARIANTS`; ``None`` draws them from the seed with
            :data:`VARIANT_PROBABILITY`, ``()`` gives the textbook anatomy.

    Returns:
        an :class:`Anatomy` in world mm.

    Example:
        >>> anatomy = generate_anatomy(3, preset="tiny", variants=())
        >>> anatomy.segment("L_ICA_intracranial").label
        4
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigurationError(f"seed must be a non-negative int, got {seed!r}")
    pre = get_preset(preset)
    pathos = check_pathologies(pathologies)
    rng = np.random.default_rng([int(seed), 1])
    chosen = choose_variants(rng, variants)
    b = SegmentBuilder(rng)
    pt = draw_patient(rng, chosen)

    z_ao = add_arch_and_trunks(b, pt)
    add_vertebrobasilar(b, pt, z_ao)
    add_carotids(b, pt)
    add_circle_of_willis(b, pt)
    add_dural_veins(b, pt)
    add_distal_trees(b, pt, pre)
    add_cortical_veins(b, pt, pre)

    findings: list[Finding] = []
    prng = np.random.default_rng([int(seed), 2])
    apply_pathologies(b.segments, pathos, prng, findings, z_sb=pt.z_sb)
    for seg in b.segments.values():  # contrast fades along the tree
        if seg.kind == "artery":
            seg.contrast = seg.contrast * (1.0 - 0.02 * min(seg.generation, 15))
    segments = split_regions(list(b.segments.values()), z_ao=z_ao, z_sb=pt.z_sb)

    levels = {
        "aorta_top_mm": z_ao,
        "skull_base_mm": pt.z_sb,
        "bifurcation_mm": pt.z_bif,
        "cow_mm": pt.z_cow,
        "arch_mm": pt.z_arch,
    }
    levels.update({f"vertebra_{k}_mm": v for k, v in pt.vert_z.items()})
    head = {
        "brain_center": pt.brain_c,
        "brain_semi": pt.brain_a,
        "skull_inner": pt.inner_a,
        "skull_outer": pt.outer_a,
    }
    body = body_outline(pt)
    bones = make_bones(segments, levels=levels, head=head, vert_z=pt.vert_z)
    findings += air_cavities(body, pt.z_sb)
    findings += soft_organs(segments, levels)
    if "dental_fillings" in pathos:
        findings += dental_fillings(prng, pt.z_sb)
    logger.debug(
        "anatomy seed %d: %d segments, variants %s, pathologies %s", seed, len(segments), chosen, pathos
    )
    return Anatomy(
        seed=int(seed),
        preset=pre.name,
        variants=chosen,
        pathologies=pathos,
        segments=segments,
        bones=bones,
        findings=findings,
        levels=levels,
        head=head,
        body=body,
    )
