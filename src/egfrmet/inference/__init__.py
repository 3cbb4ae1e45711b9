"""Scoring patients with trained models: one scoring, the ensemble, predict and scan."""
