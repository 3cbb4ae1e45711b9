"""Table 2, the summary, comparisons, decision curves, figures and the model card."""
