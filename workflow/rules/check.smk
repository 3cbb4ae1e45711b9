# Voxel-level checks of each patient's files; every N4 job waits for its patient's check.


include: "inputs/check.smk"


rule check:
    input:
        unpack(patient_files),
    output:
        "results/checks/{patient}.json",
    log:
        "logs/check/{patient}.log",
    benchmark:
        "logs/benchmarks/check/{patient}.tsv"
    priority: 10
    conda:
        "../../envs/imaging.yaml"
    params:
        series=CHECK_SERIES_OPTION,
        brain_mask=brain_mask_option,
        mask_labels=MASK_LABELS,
        tolerance=config["preprocess"]["grid_tolerance"],
        settings=settings("check"),
        sequences=sheet_sequence_options,
        resample=RESAMPLE_OPTION,
    shell:
        "python -m egfrmet check --patient {wildcards.patient}"
        " --image {input.image:q} {params.series} --mask {input.mask:q} {params.brain_mask}"
        " --mask-labels {params.mask_labels} --grid-tolerance {params.tolerance}"
        " --settings {params.settings:q}"
        " {params.sequences} {params.resample}"
        " --out {output:q} 2> {log:q}"


# A mask kept as an RTSTRUCT or DICOM-SEG file, placed on the grid of the T1c series it
# references (refused, naming the series, when it references another).
rule dicom_mask:
    input:
        image=patient_image,
        mask=dicom_mask_file,
    output:
        paths.DICOM_MASK,
    log:
        "logs/dicom_mask/{column}/{patient}.log",
    benchmark:
        "logs/benchmarks/dicom_mask/{column}/{patient}.tsv"
    wildcard_constraints:
        column="mask|brain_mask",
    conda:
        "../../envs/imaging.yaml"
    params:
        series=SERIES_OPTION,
        roi=dicom_roi,
    shell:
        "python -m egfrmet dicom-mask --patient {wildcards.patient} --column {wildcards.column}"
        " --image {input.image:q} {params.series} --mask {input.mask:q} --roi {params.roi:q}"
        " --out {output:q} 2> {log:q}"
