"""The demo cohort generator (synthetic patients)."""
