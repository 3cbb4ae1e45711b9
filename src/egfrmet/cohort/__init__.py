"""The cohort's cross-validation folds."""
