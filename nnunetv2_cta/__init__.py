"""nnunetv2_cta: head-and-neck CT angiography post-processing as an nnU-Net v2 plugin.

The package root stays import-light (no torch, no nnunetv2) so that ``nnunetv2_cta --help`` is instant.
"""

__version__ = "0.1.0"
