"""Exports of an analysed study: CSV, PDF, DICOM SR, and the image rendering they share with the viewer."""
