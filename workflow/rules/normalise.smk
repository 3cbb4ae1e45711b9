# The brain mask (the sheet's, or one computed from the bias-corrected image), then
# reorientation to LPS and a z-score with the brain's mean and standard deviation.


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
    conda:
        "../../envs/imaging.yaml"
    params:
        brain_mask=brain_mask_option,
        mask_labels=MASK_LABELS,
        settings=brain_mask_settings,
    shell:
        "python -m egfrmet normalise --patient {wildcards.patient}"
        " --image {input.image:q} --mask {input.mask:q} {params.brain_mask}"
        " --mask-labels {params.mask_labels} --settings {params.settings:q}"
        " --out {output.image:q} --out-brain {output.brain:q}"
        " --out-lesion {output.lesion:q} --out-json {output.summary:q} 2> {log:q}"
