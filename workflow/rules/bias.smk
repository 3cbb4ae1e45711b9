# N4 bias-field correction of the full image.


rule bias:
    input:
        image=patient_image,
        check="results/checks/{patient}.json",
    output:
        "results/bias/{patient}.nii.gz",
    log:
        "logs/bias/{patient}.log",
    conda:
        "../../envs/imaging.yaml"
    threads: config["resources"]["bias"]["threads"]
    params:
        series=SERIES_OPTION,
        settings=settings("preprocess", "n4"),
    shell:
        "python -m egfrmet bias --patient {wildcards.patient} --image {input.image:q} {params.series}"
        " --settings {params.settings:q} --threads {threads} --out {output:q} 2> {log:q}"
