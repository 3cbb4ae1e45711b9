"""From a raw scan to crops: checks, N4, brain mask, lesions, normalisation, crops and their QC."""
