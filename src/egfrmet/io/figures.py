"""Figures written without a display, atomically (a half-written PNG never stays)."""

from egfrmet.io.files import atomic_output


def pyplot():
    """matplotlib.pyplot on the Agg backend (jobs have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, paths, dpi):
    """Write `fig` to each path (the format follows the suffix), then free it."""
    for path in paths:
        # a PDF carries its creation time unless told not to: the same figure, the same bytes
        metadata = {"CreationDate": None} if str(path).endswith(".pdf") else None
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=dpi, metadata=metadata)
    pyplot().close(fig)
