"""Writing predict outputs in the formats hospitals and other tools read (DICOM for PACS)."""

from nnunetv2_cta.export.dicom import PredictCase, export_dicom, find_predict_case

__all__ = ["PredictCase", "export_dicom", "find_predict_case"]
