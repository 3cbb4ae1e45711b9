"""The config and the sheet's JSON schemas (package data) and the config's check: text
values coerced to the types the schema asks for, then the first bad key named."""

from pathlib import Path

import jsonschema
import yaml

from egfrmet.errors import InputError

# Package data, so that an installed egfrmet (editable or not) finds them; workflow/schemas
# is a link to this folder, where Snakemake workflows keep theirs.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def load_schema(name_or_path):
    """A schema by path, or by name ("samples", "config") from the package's schema folder."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCHEMA_DIR / f"{name_or_path}.schema.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def validate_config(config, schema):
    """Coerce text values to the schema's types, then raise InputError naming the first bad
    key (as a dotted path) of `config`.

    Snakemake reads nested `--config` values as text (`--config "train={epochs: 3}"` gives
    "3"), so text that reads as the type the schema wants is taken as that type.
    """
    coerce(config, schema, schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        error = errors[0]
        key = ".".join(str(p) for p in error.path) or "(top level)"
        raise InputError(f"config key {key}: {error.message}")


def coerce(value, schema, root):
    """`value` with text turned into the integers, numbers and booleans `schema` asks for."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    for option in schema.get("oneOf", []):  # the first reading that changes the text
        coerced = coerce(value, option, root)
        if coerced != value or type(coerced) is not type(value):
            return coerced
    if isinstance(value, dict):
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key) or schema.get("additionalProperties")
            if isinstance(sub, dict):
                value[key] = coerce(item, sub, root)
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce(item, schema["items"], root) for item in value]
    if not isinstance(value, str):
        return value
    wanted = set(schema.get("type", [])) if isinstance(schema.get("type"), list) else {schema.get("type")}
    if any(isinstance(option, bool) for option in schema.get("enum", [])):
        wanted.add("boolean")
    for name, parse in (("integer", int), ("number", float), ("boolean", parse_bool)):
        if name in wanted:
            try:
                return parse(value)
            except ValueError:
                pass
    return value


def parse_bool(text):
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"
