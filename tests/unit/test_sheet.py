import pytest

from egfrmet.config import settings
from egfrmet.config.schema import load_schema, validate_config
from egfrmet.config.sheet import prediction_rows, read_sheet, training_rows
from egfrmet.errors import InputError

SCHEMA = load_schema("samples")
CONFIG_SCHEMA = load_schema("config")
HEADER = "patient_id\timage\tmask\tlabel\tsplit\tcenter\tfold\n"


def write(tmp_path, text):
    path = tmp_path / "sheet.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_types_defaults_and_resolves_paths_against_the_sheet(tmp_path):
    path = write(
        tmp_path,
        HEADER + "A01\timg/a.nii.gz\t/abs/a_mask.nrrd\t1\t\tsite1\t2\n" + "A02\timg/b.nii.gz\tm/b.nii.gz\t\ttest\t\t\n",
    )
    sheet = read_sheet(path, SCHEMA)
    assert list(sheet.index) == ["A01", "A02"]
    assert sheet.loc["A01", "image"] == str(tmp_path / "img" / "a.nii.gz")
    assert sheet.loc["A01", "mask"] == "/abs/a_mask.nrrd"
    assert sheet.loc["A01", "brain_mask"] == "" and sheet.loc["A01", "series_uid"] == ""
    assert sheet.loc["A01", "label"] == 1 and sheet.loc["A01", "fold"] == 2
    assert sheet.loc["A01", "split"] == "cv" and sheet.loc["A02", "split"] == "test"
    assert list(training_rows(sheet).index) == ["A01"]
    assert list(prediction_rows(sheet).index) == ["A02"]


def test_series_uid_is_read_as_text(tmp_path):
    sheet = read_sheet(write(tmp_path, "patient_id\timage\tseries_uid\tmask\nA01\tdicom\t1.2.840.1\tb\n"), SCHEMA)
    assert sheet.loc["A01", "series_uid"] == "1.2.840.1" and sheet.loc["A01", "image"] == str(tmp_path / "dicom")


def test_each_declared_sequence_may_name_its_series(tmp_path):
    text = "patient_id\timage\tmask\tt2\tt2_series_uid\nA01\td\tm\td\t1.2.3\nA02\td\tm\tt2.nii.gz\t\n"
    sheet = read_sheet(write(tmp_path, text), SCHEMA, sequences=["t2"])
    assert list(sheet["t2_series_uid"]) == ["1.2.3", ""] and list(sheet["series_uid"]) == ["", ""]
    without = read_sheet(write(tmp_path, "patient_id\timage\tmask\tt2\nA01\td\tm\td\n"), SCHEMA, sequences=["t2"])
    assert list(without["t2_series_uid"]) == [""]
    with pytest.raises(InputError, match="patient A01, column t2_series_uid.*'T2 axial' is not a DICOM series UID"):
        read_sheet(write(tmp_path, text.replace("1.2.3", "T2 axial")), SCHEMA, sequences=["t2"])
    with pytest.raises(InputError, match="unknown column.*t2_series_uid"):
        read_sheet(write(tmp_path, text), SCHEMA)  # t2 not declared: neither is its series


def test_unlabelled_cv_rows_are_predicted_not_trained(tmp_path):
    sheet = read_sheet(write(tmp_path, HEADER + "A01\ta\tb\t\tcv\t\t\n"), SCHEMA)
    assert training_rows(sheet).empty and list(prediction_rows(sheet).index) == ["A01"]


@pytest.mark.parametrize(
    "text, words",
    [
        (HEADER + "A01\ta\tb\t2\t\t\t\n", ["patient A01", "column label", "'2'"]),
        (HEADER + "A 01\ta\tb\t1\t\t\t\n", ["column patient_id", "'A 01'"]),
        (HEADER + "..\ta\tb\t1\t\t\t\n", ["column patient_id"]),
        (HEADER + "A01\ta\tb\t1\tholdout\t\t\n", ["patient A01", "column split"]),
        (HEADER + "A01\ta\tb\t1\t\t\tx\n", ["patient A01", "column fold"]),
        (HEADER + "A01\t\tb\t1\t\t\t\n", ["patient A01", "column image"]),
        (HEADER + "A01\ta\tb\t1\t\t\t\nA01\tc\td\t0\t\t\t\n", ["duplicate patient_id", "A01 on lines [2, 3]"]),
        ("patient_id\timage\tmask\tlabels\nA01\ta\tb\t1\n", ["unknown column", "labels"]),
        ("patient_id\timage\nA01\ta\n", ["missing required column", "mask"]),
        (HEADER, ["lists no patient"]),
        ("patient_id\timage\tseries_uid\tmask\nA01\tdicom\tT1 post\tb\n", ["patient A01", "column series_uid"]),
    ],
    ids=[
        "label",
        "space in id",
        "dot-dot id",
        "split",
        "fold",
        "empty image",
        "duplicate",
        "unknown",
        "missing",
        "empty",
        "series_uid",
    ],
)
def test_bad_sheets_name_patient_column_and_file(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as error:
        read_sheet(path, SCHEMA)
    message = str(error.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_default_config_is_valid(config):
    validate_config(config, CONFIG_SCHEMA)


@pytest.mark.parametrize(
    "key, value, words",
    [
        (("preprocess", "crop", "size"), 4, "preprocess.crop.size"),
        (("preprocess", "n4", "backend"), "spm", "preprocess.n4.backend"),
        (("preprocess", "n4", "shrink"), "four", "preprocess.n4.shrink"),
        (("preprocess", "n4", "shrink"), [4, 4], "preprocess.n4.shrink"),
        (("folds", "k"), 1, "folds.k"),
        (("train", "lr"), -0.1, "train.lr"),
        (("preprocess", "mask_labels"), [1, 1], "preprocess.mask_labels"),
        (("preprocess", "crop", "margin"), 3, "preprocess.crop"),
    ],
)
def test_bad_config_values_name_the_key(cfg, key, value, words):
    section = cfg
    for part in key[:-1]:
        section = section[part]
    section[key[-1]] = value
    with pytest.raises(InputError, match=f"config key {words}"):
        validate_config(cfg, CONFIG_SCHEMA)


def test_text_from_nested_command_line_config_is_read_as_the_schema_types(cfg):
    """snakemake --config "train={epochs: 3, freeze_body: false}" gives text: it must work."""
    cfg["train"] |= {"epochs": "3", "lr": "0.002", "freeze_body": "false", "predict_with": "last"}
    cfg["preprocess"]["mask_labels"] = ["1", "4"]
    cfg["synth"]["sheet"]["centers"] = {"A": "46", "B": "13"}
    validate_config(cfg, CONFIG_SCHEMA)
    assert cfg["train"]["epochs"] == 3 and cfg["train"]["lr"] == 0.002 and cfg["train"]["freeze_body"] is False
    assert cfg["train"]["predict_with"] == "last" and cfg["preprocess"]["mask_labels"] == [1, 4]
    assert cfg["synth"]["sheet"]["centers"] == {"A": 46.0, "B": 13.0}
    for text, read in (("6", 6), (["4", "4", "4"], [4, 4, 4])):  # a number, or the factors per axis
        cfg["preprocess"]["n4"]["shrink"] = text
        validate_config(cfg, CONFIG_SCHEMA)
        assert cfg["preprocess"]["n4"]["shrink"] == read
    cfg["train"]["epochs"] = "three"
    with pytest.raises(InputError, match="config key train.epochs: 'three' is not of type 'integer'"):
        validate_config(cfg, CONFIG_SCHEMA)


def test_a_predict_with_selection_must_be_selected(cfg):
    cfg["train"] |= {"select": ["last"], "predict_with": "inner_ensemble"}
    with pytest.raises(InputError, match="train.predict_with 'inner_ensemble' is not one of train.select"):
        settings.check_config(cfg)


@pytest.mark.parametrize(
    "section, key, value, words",
    [
        ("fusion", "components", [], "train.predict_with auto: give fusion.components"),
        ("preprocess", "n4", {"backend": "ants", "shrink": [4, 4, 1]}, "antspyx shrinks every axis by one factor"),
        ("preprocess", "n4", {"backend": "ants", "shrink": 4}, "preprocess.n4.spline_order 2: antspyx fits cubic"),
        ("preprocess", "n4", {"control_points": 2}, "preprocess.n4.control_points 2 must exceed spline_order 2"),
    ],
)
def test_contradicting_settings_are_refused_by_name(cfg, section, key, value, words):
    cfg[section][key] = cfg[section][key] | value if isinstance(value, dict) else value
    validate_config(cfg, CONFIG_SCHEMA)  # each key is valid alone
    with pytest.raises(InputError, match=words):
        settings.check_config(cfg)
