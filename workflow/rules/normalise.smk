# Reorient to LPS and z-score with the brain's mean and standard deviation.


rule normalise:
    input:
        image="results/bias/{patient}.nii.gz",
        brain="results/brainmask/{patient}.nii.gz",
        brain_json="results/brainmask/{patient}.json",
        mask=patient_mask,
    output:
        image="results/normalised/{patient}.nii.gz",
        lesion="results/normalised/{patient}_lesion.nii.gz",
        summary="results/normalised/{patient}.json",
    log:
        "logs/normalise/{patient}.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        mask_labels=MASK_LABELS,
    shell:
        "python -m egfrmet normalise --patient {wildcards.patient}"
        " --image {input.image:q} --brain {input.brain:q} --brain-json {input.brain_json:q}"
        " --mask {input.mask:q} --mask-labels {params.mask_labels}"
        " --out {output.image:q} --out-lesion {output.lesion:q} --out-json {output.summary:q}"
        " 2> {log:q}"
