"""The paper's family: a 2-D network scoring each of the 5 centre crop slices on its own; the
patient's score is the aggregate of its slices' (evaluate.metric, median)."""

from egfrmet.training.networks.base import Family

FAMILY = Family()
