# N4 bias-field correction of the full image.


include: "inputs/bias.smk"


rule bias:
    input:
        image=patient_image,
        check="results/checks/{patient}.json",
    output:
        "results/bias/{patient}.nii.gz",
    log:
        "logs/bias/{patient}.log",
    benchmark:
        "logs/benchmarks/bias/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: config["resources"]["bias"]["threads"]
    params:
        series=SERIES_OPTION,
        settings=settings("preprocess", "n4"),
    shell:
        "python -m egfrmet bias --patient {wildcards.patient} --image {input.image:q} {params.series}"
        " --settings {params.settings:q} --threads {threads} --out {output:q} 2> {log:q}"


# A further sequence (inputs.sequences): onto the T1c's grid (resampled by header geometry with
# inputs.resample), then N4 with the T1c's settings.
rule bias_sequence:
    input:
        image=patient_sequence,
        reference=sequence_reference,
        check="results/checks/{patient}.json",
    output:
        "results/bias/{sequence}/{patient}.nii.gz",
    log:
        "logs/bias/{sequence}/{patient}.log",
    benchmark:
        "logs/benchmarks/bias_sequence/{sequence}/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: config["resources"]["bias"]["threads"]
    params:
        settings=settings("preprocess", "n4"),
        # --resample and the series to read (one param: a new one would change the command's
        # text, which re-runs every sequence's N4 of an existing run)
        resample=SEQUENCE_OPTIONS,
        tolerance=config["preprocess"]["grid_tolerance"],
    shell:
        "python -m egfrmet bias-sequence --patient {wildcards.patient} --sequence {wildcards.sequence}"
        " --image {input.image:q} --reference {input.reference:q} {params.resample}"
        " --grid-tolerance {params.tolerance} --settings {params.settings:q} --threads {threads}"
        " --out {output:q} 2> {log:q}"


# With inputs.register: rigid, the T1c's edges over each registered sequence.
rule alignment_qc:
    input:
        image="results/bias/{patient}.nii.gz",
        moved="results/bias/{sequence}/{patient}.nii.gz",
        check="results/checks/{patient}.json",
    output:
        "results/qc/alignment/{sequence}/{patient}.png",
    log:
        "logs/alignment_qc/{sequence}/{patient}.log",
    benchmark:
        "logs/benchmarks/alignment_qc/{sequence}/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    shell:
        "python -m egfrmet alignment-qc --patient {wildcards.patient} --sequence {wildcards.sequence}"
        " --image {input.image:q} --moved {input.moved:q} --check {input.check:q} --out {output:q} 2> {log:q}"
