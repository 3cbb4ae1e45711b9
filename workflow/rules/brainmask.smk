# The brain mask: the sheet's, or one computed from the bias-corrected image.


rule brainmask:
    input:
        image="results/bias/{patient}.nii.gz",
        mask=patient_mask,
        brain_mask=patient_brain_mask,
    output:
        mask="results/brainmask/{patient}.nii.gz",
        summary="results/brainmask/{patient}.json",
    log:
        "logs/brainmask/{patient}.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        brain_mask=brain_mask_option,
        mask_labels=MASK_LABELS,
        settings=brain_mask_settings,
    shell:
        "python -m egfrmet brainmask --patient {wildcards.patient}"
        " --image {input.image:q} --mask {input.mask:q} {params.brain_mask}"
        " --mask-labels {params.mask_labels} --settings {params.settings:q}"
        " --out {output.mask:q} --out-json {output.summary:q} 2> {log:q}"
