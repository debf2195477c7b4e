"""The CGPM repair stage ("connected growth prediction model") in one package.

- :mod:`.plans`: the ``3d_cgpm`` configuration added to our plans (plain JSON);
- :mod:`.source`: ``cgpm_source.json`` (what a CGPM was trained on) and the check that it fits a first stage;
- :mod:`.sites`: candidate break sites (dangling vessel ends) and the patches that cover them;
- :mod:`.merge`: the bridge-only merge of its prediction into the first stage;
- :mod:`.runner`: one case, end to end, through :class:`~nnunetv2_cta.inference.model.StageModel`.

The trainer is :mod:`nnunetv2_cta.trainers.cgpm` (nnU-Net finds trainers there). Nothing here imports torch
or nnunetv2 at module level.
"""
