"""A generated demo cohort that looks like the paper's: head phantoms with one enhancing lesion.

Each patient is a post-contrast-T1-like volume: scalp, skull, CSF, cortex (grey matter) and
white matter, ventricles, one ring-enhancing lesion with a necrotic core and oedema, a smooth
multiplicative bias field that differs per patient, and Rician noise. The EGFR label moves three
lesion properties by `effect_size` standard deviations of their between-patient spread
(necrotic-core fraction down, rim texture up, and the oedema around the lesion smaller, which
a T2-weighted second image shows brightest), so a classifier can learn it but not trivially.
Everything derives from (seed, patient_id): the same call gives the same bytes.
"""

import hashlib
import logging

import numpy as np
import pandas as pd
import SimpleITK as sitk

from egfrmet.arguments import PATIENT, SETTINGS, command, optional, required
from egfrmet.io.images import write_image

log = logging.getLogger(__name__)

# Intensities of a post-contrast T1 relative to white matter.
TISSUE = {
    "air": 0.0,
    "scalp": 0.85,
    "skull": 0.12,
    "csf": 0.22,
    "grey": 0.62,
    "white": 1.0,
    "oedema": 0.74,
    "rim": 1.45,
    "core": 0.30,
}
# A T2-weighted image's intensities relative to CSF: fluid and oedema bright, a necrotic core
# bright, the enhancing rim darker than on T1c.
T2_TISSUE = {
    "air": 0.0,
    "scalp": 0.35,
    "skull": 0.05,
    "csf": 1.0,
    "grey": 0.55,
    "white": 0.42,
    "oedema": 0.85,
    "rim": 0.5,
    "core": 0.95,
}
# Directions a scanner may write (both LPS-equivalent in physical space): centre B writes LAS
# like the real scans in shared/, so the workflow's reorientation is exercised.
DIRECTIONS = {0: (1, 0, 0, 0, 1, 0, 0, 0, 1), 1: (1, 0, 0, 0, -1, 0, 0, 0, 1)}


def patient_rng(seed, patient_id):
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def make_sheet(
    *,
    n_patients,
    n_positive,
    centers,
    n_test,
    n_test_positive,
    brain_mask_every,
    seed,
    clinical=None,
    t2=False,
    external=None,
):
    """The demo sample sheet: `n_patients` cv patients (P001...) plus `n_test` held-out ones (T001...).

    `centers` maps centre name to its share of patients. Every `brain_mask_every`-th patient
    comes with a brain mask; the workflow computes one for the others. With `clinical`
    (config synth.sheet.clinical), each patient also gets sex, age and smoking; with `t2`, a
    `t2` column names its T2-weighted image. With `external` ({cohort, n_patients, n_positive,
    center}), a further cohort (E001...) from another site, labels drawn as for the others,
    named in a `cohort` column: never trained on, the shipped model is validated on it.
    """
    rng = np.random.default_rng(seed)
    rows = []
    parts = [("cv", "P", n_patients, n_positive, centers), ("test", "T", n_test, n_test_positive, centers)]
    if external:
        parts.append(("", "E", external["n_patients"], external["n_positive"], {external["center"]: 1}))
    for split, prefix, n, n_pos, sites_of in parts:
        labels = np.zeros(n, dtype=int)
        labels[rng.choice(n, size=n_pos, replace=False)] = 1
        sites = np.repeat(list(sites_of), split_counts(n, list(sites_of.values())))
        rng.shuffle(sites)
        for i in range(n):
            pid = f"{prefix}{i + 1:03d}"
            rows.append(
                {
                    "patient_id": pid,
                    "image": f"synth/{pid}_t1.nii.gz",
                    "mask": f"synth/{pid}_lesion.nii.gz",
                    "brain_mask": f"synth/{pid}_brain.nii.gz" if len(rows) % brain_mask_every == 0 else "",
                }
                | ({"t2": f"synth/{pid}_t2.nii.gz"} if t2 else {})
                | {
                    "label": int(labels[i]),
                    "split": split,
                    "center": sites[i],
                }
                | ({"cohort": external["cohort"] if prefix == "E" else ""} if external else {})
                | (clinical_values(pid, int(labels[i]), seed, **clinical) if clinical else {})
            )
    return pd.DataFrame(rows)


def clinical_values(patient_id, label, seed, *, women, never_smoker, former_of_smokers, age, missing):
    """One patient's sex (F/M), age (years) and smoking (never/former/current), drawn from
    its own generator so that the rest of the sheet stays as it was; `women` and
    `never_smoker` give the fraction among wild type and mutants."""
    rng = patient_rng(seed, f"clinical:{patient_id}")
    sex = "F" if rng.random() < women[label] else "M"
    years = str(int(round(rng.normal(*age))))
    if rng.random() < never_smoker[label]:
        smoking = "never"
    else:
        smoking = "former" if rng.random() < former_of_smokers else "current"
    years, smoking = ("" if rng.random() < missing else value for value in (years, smoking))
    return {"sex": sex, "age": years, "smoking": smoking}


def split_counts(n, shares):
    counts = np.floor(np.array(shares, dtype=float) / sum(shares) * n).astype(int)
    counts[np.argmax(shares)] += n - counts.sum()
    return counts


def make_patient(patient_id, *, label, center, shape, spacing, effect_size, noise, bias_strength, seed, scanner=None):
    """Arrays (z, y, x) of one patient: image, unbiased image, bias field and masks.

    `center` (a site name) sets the scanner: its gain, noise level and stored orientation.
    `scanner` (config synth.scanners' entry of the centre) makes another protocol: its noise
    (noise_factor times), bias field strength, tissue contrast (intensities to the power
    `contrast`) and slice thickness (`slice_mm`: fewer, thicker slices over the same head).
    """
    scanner = scanner or {}
    if "slice_mm" in scanner:
        shape = [*shape[:2], max(16, round(shape[2] * spacing[2] / scanner["slice_mm"]))]
        spacing = [*spacing[:2], scanner["slice_mm"]]
    bias_strength = scanner.get("bias_strength", bias_strength)
    rng = patient_rng(seed, patient_id)
    site = patient_rng(seed, f"center:{center}")
    shape_zyx = tuple(int(n) for n in reversed(shape))
    grid = normalised_grid(shape_zyx)

    tissue, masks = anatomy(grid, rng)
    lesion = lesion_properties(rng, label, effect_size)
    add_lesion(tissue, masks, grid, rng, lesion, spacing)
    tissue = tissue ** scanner.get("contrast", 1.0)

    bias = bias_field(grid, rng, bias_strength)
    gain = float(site.uniform(600, 1000))
    sigma = noise * float(site.uniform(0.8, 1.4)) * scanner.get("noise_factor", 1.0)
    image = acquire(tissue, bias, gain, sigma, rng)
    t2_rng = patient_rng(seed, f"t2:{patient_id}")  # its own draws: the T1c stays as it was
    t2 = acquire(t2_tissue(masks, t2_rng, lesion), bias_field(grid, t2_rng, bias_strength), gain, sigma, t2_rng)
    return {
        "image": image,
        "t2": t2,
        # the image divided by its known field: what a perfect correction gives
        "unbiased": (image / bias).astype(np.float32),
        "bias": bias.astype(np.float32),
        "lesion": masks["lesion"],
        "brain": masks["brain"],
        "white": masks["white"],
        "head": masks["head"],
        "spacing": tuple(float(s) for s in spacing),
        "direction": DIRECTIONS[int(site.integers(0, 2))],
        "lesion_properties": lesion,
    }


def acquire(tissue, bias, gain, sigma, rng):
    """A magnitude image: the tissue intensities times gain and field, Rician noise, int16."""
    truth = tissue * gain
    real, imaginary = (rng.normal(0, sigma * gain, truth.shape).astype(np.float32) for _ in range(2))
    return np.round(np.hypot(truth * bias + real, imaginary)).astype(np.int16)


def t2_tissue(masks, rng, lesion):
    """T2-weighted intensities of the same anatomy and lesion (masks from anatomy, add_lesion)."""
    t2 = np.full(masks["head"].shape, T2_TISSUE["air"], dtype=np.float32)
    for name in ("head", "skull", "csf", "grey"):
        t2[masks[f"{name}_region"]] = T2_TISSUE["scalp" if name == "head" else name]
    t2[masks["white_region"]] = T2_TISSUE["white"]
    t2[masks["ventricles"] & masks["brain"]] = T2_TISSUE["csf"]
    t2[masks["oedema"]] = T2_TISSUE["oedema"]
    t2[masks["lesion"]] = T2_TISSUE["rim"] * (1 + 0.5 * lesion["texture"] * rng.normal(size=int(masks["lesion"].sum())))
    t2[masks["core"]] = T2_TISSUE["core"]
    return t2


def normalised_grid(shape_zyx):
    """Coordinates in [-1, 1] along each axis, as (x, y, z) arrays of shape_zyx."""
    axes = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape_zyx]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return x, y, z


def smooth_noise(grid, rng, n_modes, wavelength):
    """A smooth random field (sum of random plane waves), std about 1."""
    x, y, z = grid
    field = np.zeros_like(x)
    for _ in range(n_modes):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        k = 2 * np.pi / (wavelength * rng.uniform(0.7, 1.3))
        phase = rng.uniform(0, 2 * np.pi)
        field += np.cos(k * (direction[0] * x + direction[1] * y + direction[2] * z) + phase)
    return field * np.sqrt(2.0 / n_modes)


def anatomy(grid, rng):
    x, y, z = grid
    semi = np.array([0.86, 0.88, 0.86]) * rng.uniform(0.94, 1.0, size=3)
    wiggle = smooth_noise(grid, rng, 24, 0.35)

    def inside(depth, jitter=0.0):
        a, b, c = semi - depth
        return (x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2 <= (1 + jitter) ** 2

    head, skull_out, csf_out, brain = inside(0.0), inside(0.06), inside(0.12), inside(0.15)
    white = inside(0.22, 0.04 * wiggle)
    ventricles = ((x - 0.1) / 0.09) ** 2 + (y / 0.28) ** 2 + (z / 0.15) ** 2 <= 1
    ventricles |= ((x + 0.1) / 0.09) ** 2 + (y / 0.28) ** 2 + (z / 0.15) ** 2 <= 1

    tissue = np.full(x.shape, TISSUE["air"], dtype=np.float32)
    tissue[head] = TISSUE["scalp"]
    tissue[skull_out] = TISSUE["skull"]
    tissue[csf_out] = TISSUE["csf"]
    tissue[brain] = TISSUE["grey"]
    tissue[white] = TISSUE["white"]
    tissue[ventricles & brain] = TISSUE["csf"]
    masks = {"head": head, "brain": brain, "white": white & ~ventricles}
    # the regions painted above, for the T2-weighted image (t2_tissue)
    masks |= {"head_region": head, "skull_region": skull_out, "csf_region": csf_out, "grey_region": brain}
    masks |= {"white_region": white, "ventricles": ventricles}
    return tissue, masks


def lesion_properties(rng, label, effect_size):
    """Lesion appearance; the label shifts core fraction and rim texture by `effect_size` SDs."""
    shift = effect_size * label
    return {
        "radius": float(rng.uniform(0.09, 0.15)),
        "core_fraction": float(np.clip(0.55 - 0.10 * shift + 0.10 * rng.normal(), 0.0, 0.85)),
        "texture": float(max(0.0, 0.08 + 0.05 * shift + 0.05 * rng.normal())),
        # smaller oedema with the label (EGFR-mutant metastases tend to less peritumoral oedema)
        "oedema_ratio": float(max(1.1, rng.uniform(1.4, 2.2) - 0.25 * shift)),
    }


def add_lesion(tissue, masks, grid, rng, lesion, spacing):
    """Paint a ring-enhancing lesion with oedema into white matter; adds the `lesion` mask."""
    x, y, z = grid
    centre = pick_lesion_centre(masks["white"], grid, rng)
    # Distances in mm-like units: the grid is [-1, 1] per axis, so scale by each axis' extent.
    extent = np.array([n * s for n, s in zip(reversed(x.shape), spacing)])
    scale = extent / extent.max()
    dx, dy, dz = ((c - c0) * s for c, c0, s in zip((x, y, z), centre, scale))
    rough = 1 + 0.12 * smooth_noise(grid, rng, 12, 0.15)
    distance = np.sqrt(dx**2 + dy**2 + dz**2) / (lesion["radius"] * rough)

    brain = masks["brain"]
    oedema = (distance <= lesion["oedema_ratio"]) & brain
    solid = distance <= 1.0
    core = distance <= lesion["core_fraction"]
    texture = smooth_noise((x[solid], y[solid], z[solid]), rng, 40, 0.05)
    tissue[oedema] = np.minimum(tissue[oedema], TISSUE["oedema"])
    tissue[solid] = TISSUE["rim"] * (1 + lesion["texture"] * texture)
    tissue[core] = TISSUE["core"]
    masks["lesion"] = solid
    masks["oedema"], masks["core"] = oedema, core
    masks["white"] = masks["white"] & ~oedema & ~solid


def pick_lesion_centre(white, grid, rng):
    x, y, z = grid
    deep = white & (np.abs(x) > 0.25) & (x**2 + y**2 + z**2 < 0.45)
    candidates = np.flatnonzero(deep if deep.any() else white)
    index = candidates[rng.integers(len(candidates))]
    return x.flat[index], y.flat[index], z.flat[index]


def bias_field(grid, rng, strength):
    """exp of a smooth field: a linear gradient plus long waves; log-std about `strength`."""
    x, y, z = grid
    gradient = rng.normal(size=3)
    gradient /= np.linalg.norm(gradient)
    log_field = 0.6 * (gradient[0] * x + gradient[1] * y + gradient[2] * z) + 0.8 * smooth_noise(grid, rng, 4, 2.5)
    return np.exp(strength * log_field / max(float(log_field.std()), 1e-6))


def to_image(array, patient, dtype=None):
    """An sitk image in the patient's scanner orientation, same physical content for any."""
    stored = array if patient["direction"][4] > 0 else array[:, ::-1, :]
    image = sitk.GetImageFromArray(np.ascontiguousarray(stored if dtype is None else stored.astype(dtype)))
    spacing = patient["spacing"]
    size = array.shape[::-1]
    image.SetSpacing(spacing)
    image.SetDirection(patient["direction"])
    # Centre the volume on the origin of physical space.
    first = [-(n - 1) * s / 2 for n, s in zip(size, spacing)]
    if patient["direction"][4] < 0:
        first[1] = -first[1]
    image.SetOrigin(first)
    return image


def from_stored(values, patient):
    """An array (z, y, x) read from a `to_image` image, back on the generator's axes."""
    return values if patient["direction"][4] > 0 else values[:, ::-1]


def white_matter_cv(values, patient):
    """Coefficient of variation of `values` (generator's axes) in the patient's white matter:
    how flat a bias correction left it, against the same of patient["unbiased"]."""
    white = values[patient["white"]]
    return white.std() / white.mean()


def write_patient(patient, *, image, mask, brain_mask, t2=""):
    write_image(to_image(patient["image"], patient), image)
    if t2:
        write_image(to_image(patient["t2"], patient), t2)
    write_image(to_image(patient["lesion"], patient, np.uint8), mask)
    write_image(to_image(patient["brain"], patient, np.uint8), brain_mask)


@command(
    "generate one demo patient's image, lesion mask and brain mask",
    PATIENT,
    required("--label", "1 = EGFR-mutant, 0 = wild type", type=int, choices=[0, 1]),
    required("--center", "site name (sets the simulated scanner)"),
    required("--image", "image to write"),
    required("--mask", "lesion mask to write"),
    required("--brain-mask", "brain mask to write"),
    optional("--t2", "T2-weighted image to write (on the image's grid)"),
    SETTINGS,
)
def run(patient, *, label, center, image, mask, brain_mask, t2, settings):
    """The `egfrmet synth` subcommand: one patient's files."""
    generated = make_patient(patient, label=label, center=center, **settings)
    write_patient(generated, image=image, mask=mask, brain_mask=brain_mask, t2=t2)
    log.info("patient %s: label %s, centre %s, lesion %s", patient, label, center, generated["lesion_properties"])


@command(
    "write the demo cohort's sample sheet",
    required("--out", "sample sheet to write (.tsv)"),
    SETTINGS,
)
def write_sheet(*, out, settings):
    """The `egfrmet synth-sheet` subcommand."""
    make_sheet(**settings).to_csv(out, sep="\t", index=False)
