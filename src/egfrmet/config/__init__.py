"""The config and the sample sheet: schemas, checks, the settings each stage derives."""
