# Mid-tumour slice and its neighbours, cropped around the lesion and resampled; and for the
# whole-lesion network families (model.family), every slice the lesion spans.


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


# Every slice the lesion spans and the context slices, beside the paper's crops (which stay
# as they are): made only where a network family or the deep features read them.
use rule crop as crop_lesion with:
    output:
        crops=paths.LESION_CROPS,
        qc=report(
            "results/qc/lesion/{patient}.png",
            caption="../report/qc.rst",
            category="Quality control",
        ),
    log:
        "logs/crop_lesion/{patient}.log",
    benchmark:
        "logs/benchmarks/crop_lesion/{patient}.tsv"
    params:
        settings=with_absent(LESION_CROP_SETTINGS),
