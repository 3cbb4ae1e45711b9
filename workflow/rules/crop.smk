# Mid-tumour slice and its neighbours, cropped around the lesion and resampled.


include: "inputs/crop.smk"


rule crop:
    input:
        image="results/normalised/{patient}.nii.gz",
        lesion="results/normalised/{patient}_lesion.nii.gz",
        brain="results/normalised/{patient}_brain.nii.gz",
        summary="results/normalised/{patient}.json",
        sequences=sequence_files("normalised"),
    output:
        crops=paths.CROPS,
        qc=report(
            "results/qc/{patient}.png",
            caption="../report/qc.rst",
            category="Quality control",
        ),
    log:
        "logs/crop/{patient}.log",
    benchmark:
        "logs/benchmarks/crop/{patient}.tsv"
    conda:
        "../../envs/imaging.yaml"
    params:
        settings=with_absent(CROP_SETTINGS),
    shell:
        "python -m egfrmet crop --patient {wildcards.patient}"
        " --image {input.image:q} --lesion {input.lesion:q} --brain {input.brain:q}"
        " --summary {input.summary:q} --sequence-files {input.sequences:q}"
        " --settings {params.settings:q} --out {output.crops:q} --qc {output.qc:q} 2> {log:q}"
