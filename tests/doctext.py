"""What the documentation says, read as the tests read it: the pages, their fenced blocks
and the shell commands they show (tests/unit/test_docs.py checks them against the code,
tests/workflow/test_docs_commands.py dry-runs the snakemake ones)."""

import re
import shlex

import yaml

from conftest import REPO

DOCS = [REPO / "README.md", REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
COMMAND = re.compile(r"`((?:\.venv/bin/|python -m )?(?:snakemake|egfrmet) [^`\n]+|--config [^`\n]+)`")


def name(path):
    return str(path.relative_to(REPO))


def blocks(path):
    """(language, text) of each fenced block of a markdown file."""
    return FENCE.findall(path.read_text(encoding="utf-8"))


def shell_commands(path):
    """Each command line of the file's unlabelled and shell blocks (continuations joined,
    comments and prompts dropped), and each command in the prose's inline code."""
    commands = COMMAND.findall(FENCE.sub("", path.read_text(encoding="utf-8")))
    for language, text in blocks(path):
        if language not in ("", "sh", "bash", "shell", "console"):
            continue
        for line in text.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def words(command):
    """The command's words up to a comment (shlex keeps quoted values together)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=False)
    lexer.whitespace_split, lexer.commenters = True, "#"
    return list(lexer)


def is_snakemake(word):
    return word == "snakemake" or word.endswith("/snakemake")


def printed_yaml(command):
    """(file, YAML) that a `printf '...' > file.yaml` line writes (the README's overlay)."""
    match = re.match(r"printf '(.*)' >>? (\S+\.ya?ml)", command)
    return (match.group(2), yaml.safe_load(match.group(1).replace("\\n", "\n"))) if match else None
