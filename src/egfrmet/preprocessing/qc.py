"""The crops' QC figure and notes: what a reader checks before trusting a patient's crops."""

import numpy as np

from egfrmet.io.figures import pyplot, save


def plot_qc(result, patient, summary, path):
    """One row of crops per lesion taken (rows of at most 10: whole-lesion crops wrap), lesion
    outline red, brain-mask outline cyan, and under it a row per further sequence with the same
    outlines (so a sequence off the lesion, e.g. resampled without registration, shows); which
    lesions were taken of how many, how the brain mask was made, and warnings in the title."""
    plt = pyplot()
    present = result.get("sequence_present", np.ones(len(result.get("sequence_names", [])), bool))
    names = [
        "T1c",
        *[f"{name}{'' if here else ' (missing)'}" for name, here in zip(result.get("sequence_names", []), present)],
    ]
    channels = [result["slices"]] + [result["sequences"][:, c] for c in range(len(names) - 1)]
    places, rows, n = layout(result["lesion"], len(names))
    height = 2.4 if len(names) == 1 else 2.7  # the T1c alone as before; room for each row's title
    fig, axes = plt.subplots(rows, n, figsize=(2.2 * n, 0.5 + height * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for c, (name, images) in enumerate(zip(names, channels)):
        low, high = np.percentile(images, [1, 99])
        for i in range(len(images)):
            row, column, first = places[i]
            ax = axes[row + c, column]
            ax.imshow(images[i], cmap="gray", vmin=low, vmax=high)
            brain, mask = result["brain_masks"][i], result["masks"][i]
            if brain.any() and not brain.all():
                ax.contour(brain, levels=[0.5], colors="cyan", linewidths=0.6)
            if mask.any():
                ax.contour(mask, levels=[0.5], colors="red", linewidths=0.8)
            title = f"slice {result['source_slice_index'][i]}\n{result['lesion_area'][i]} lesion px"
            if first:
                lesion = int(result["lesion"][i])
                volume = result["lesion_volume_mm3"][lesion - 1]
                named = f"{name}, " if len(names) > 1 else ""  # the T1c alone, as before sequences
                title = f"{named}lesion {lesion}: {volume:.0f} mm³\n" + title
            ax.set_title(title, fontsize=8)
    fig.suptitle(f"{patient}  ·  " + "  ·  ".join(qc_notes(result, summary)), fontsize=9)
    fig.tight_layout()
    save(fig, [path], dpi=80)


def layout(lesion_of_slice, per_slice_rows, most=10):
    """Where each crop slice goes: (first row, column, whether it opens its lesion), the rows
    and columns. A lesion's slices fill rows of at most `most` (whole-lesion crops wrap), each
    taking `per_slice_rows` rows (one per sequence)."""
    counts = [int(np.sum(lesion_of_slice == k)) for k in dict.fromkeys(lesion_of_slice.tolist())]
    columns = min(most, max(counts))
    places, row = [], 0
    for count in counts:
        for j in range(count):
            places.append((row + (j // columns) * per_slice_rows, j % columns, j == 0))
        row += -(-count // columns) * per_slice_rows
    return places, row, columns


def qc_notes(result, summary):
    total, taken = len(result["lesion_volume_mm3"]), len(result["lesions_taken"])
    lesions = f"lesion {result['lesions_taken'][0]} of {total}" if taken == 1 else f"{taken} of {total} lesions"
    method = summary.get("brain_mask_method")
    brain = f"brain mask: {summary['brain_mask']}" + (f" ({method})" if method else "")
    boxes = "box " + "/".join(f"{side:.0f}" for side in result["box_side_mm"]) + " mm"
    return [lesions, boxes, brain] + summary.get("warnings", [])
