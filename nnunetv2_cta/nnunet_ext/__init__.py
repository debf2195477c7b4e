"""The folder ``nnUNet_extTrainer`` points at (see ``nnunetv2_cta env``).

nnU-Net imports every module in this folder by its bare file name and looks for the requested class name.
The single module :mod:`nnunetv2_cta_trainers` re-exports :data:`nnunetv2_cta.trainers.TRAINERS`; nothing
else belongs here (pointing nnU-Net at the whole package would import our code twice under other names).
"""
