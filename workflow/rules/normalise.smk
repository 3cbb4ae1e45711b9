# The brain mask (the sheet's, or one computed from the bias-corrected image by deepbet or
# morphology), then reorientation to LPS, a z-score with the brain's mean and standard
# deviation, and the lesion mask as numbered lesions.


include: "inputs/normalise.smk"


rule normalise:
    input:
        unpack(patient_masks),
        image="results/bias/{patient}.nii.gz",
    output:
        image="results/normalised/{patient}.nii.gz",
        brain="results/normalised/{patient}_brain.nii.gz",
        lesion="results/normalised/{patient}_lesion.nii.gz",
        summary="results/normalised/{patient}.json",
    log:
        "logs/normalise/{patient}.log",
    benchmark:
        "logs/benchmarks/normalise/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: config["resources"]["normalise"]["threads"]
    params:
        brain_mask=brain_mask_option,
        mask_labels=MASK_LABELS,
        lesion_ids=config["preprocess"]["lesion_ids"],
        settings=brain_mask_settings,
    shell:
        "python -m egfrmet normalise --patient {wildcards.patient}"
        " --image {input.image:q} --mask {input.mask:q} {params.brain_mask}"
        " --mask-labels {params.mask_labels} --lesion-ids {params.lesion_ids}"
        " --settings {params.settings:q} --threads {threads}"
        " --out {output.image:q} --out-brain {output.brain:q}"
        " --out-lesion {output.lesion:q} --out-json {output.summary:q} 2> {log:q}"


# A further sequence, z-scored over the T1c's brain mask (the rule above's) in LPS.
rule normalise_sequence:
    input:
        image="results/bias/{sequence}/{patient}.nii.gz",
        brain="results/normalised/{patient}_brain.nii.gz",
    output:
        "results/normalised/{sequence}/{patient}.nii.gz",
    log:
        "logs/normalise/{sequence}/{patient}.log",
    benchmark:
        "logs/benchmarks/normalise_sequence/{sequence}/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    shell:
        "python -m egfrmet normalise-sequence --patient {wildcards.patient} --sequence {wildcards.sequence}"
        " --image {input.image:q} --brain {input.brain:q} --out {output:q} 2> {log:q}"
