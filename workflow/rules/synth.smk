# The generated demo cohort: one job per patient writes its images (T1c, T2) and masks.


include: "inputs/synth.smk"


rule synth:
    output:
        image=os.path.join(SYNTH_DIR, "{patient}_t1.nii.gz"),
        mask=os.path.join(SYNTH_DIR, "{patient}_lesion.nii.gz"),
        brain_mask=os.path.join(SYNTH_DIR, "{patient}_brain.nii.gz"),
        t2=os.path.join(SYNTH_DIR, "{patient}_t2.nii.gz"),
    log:
        "logs/synth/{patient}.log",
    benchmark:
        "logs/benchmarks/synth/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    params:
        label=synth_label,
        center=synth_center,
        settings=synth_settings,
    shell:
        "python -m egfrmet synth --patient {wildcards.patient} --label {params.label}"
        " --center {params.center:q} --settings {params.settings:q}"
        " --image {output.image:q} --mask {output.mask:q} --brain-mask {output.brain_mask:q}"
        " --t2 {output.t2:q}"
        " 2> {log:q}"
