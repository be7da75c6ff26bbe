"""The `bench` group: a version, and help on every command and sub-command."""

from __future__ import annotations

from importlib.metadata import version

import click
from click.testing import CliRunner

from benchmark.cli import cli


def _commands(group: click.Group, context: click.Context, prefix: tuple[str, ...] = ()):
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, context, (*prefix, name))


def test_version_is_the_package_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"bench, version {version('raybench')}\n"


def test_every_command_has_help():
    commands = list(_commands(cli, click.Context(cli)))
    for expected in ("submit", "report", "results", "predict", "models", "train", "ui"):
        assert (expected,) in commands
    for path in commands:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith("Usage: "), (path, result.output)
        assert " ".join(path) in result.output.splitlines()[0]
