"""egfrmet: EGFR mutation status of brain metastases from post-contrast T1 MRI."""

__version__ = "0.8.0"
