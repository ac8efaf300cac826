"""The gateway's command table: every command starts a job the workers have, with arguments its use-case takes."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

import pytest

from billecta_sync import catalogue, commands
from billecta_sync.catalogue import Kind


def sample(schema: Mapping[str, Any]) -> Any:
    """A value the schema accepts (enough for the commands' bodies and path arguments)."""
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if schema.get("pattern") == "^[0-9]{1,18}$":
        return "4711"
    return "Avser lokal 4B"


@pytest.mark.parametrize("command", commands.BATCH_COMMANDS, ids=lambda c: c.path)
def test_every_batch_command_names_a_batch_operation(command: commands.BatchCommand) -> None:
    assert command.operation in catalogue.OPERATIONS
    job = command.batch_operation.job
    assert catalogue.JOBS[job.name] is job and job.kind is Kind.PER_OBJECT


@pytest.mark.parametrize("command", commands.ALL_INTERACTIVE_COMMANDS, ids=lambda c: c.path)
def test_every_interactive_command_names_an_interactive_job_that_takes_its_arguments(
        command: commands.InteractiveCommand) -> None:
    assert catalogue.JOBS[command.job.name] is command.job
    assert command.job.kind is Kind.INTERACTIVE and command.job.wants_result
    properties = {**(command.body_schema or {}).get("properties", {}), **command.path_schema,
                  **command.query_schema}
    values = {name: sample(schema) for name, schema in properties.items()}
    # Path arguments with a URL converter (<int(...):invoice_id>) come as ints; the gateway adds the request key.
    values.update({name: 1 for name in re.findall(r"<[^>:]+:(\w+)>", command.path) if name not in values})
    args = command.job_args({**values, "_request_key": "k"})
    inspect.signature(command.job.resolve()).bind(None, *args)  # raises TypeError when it does not fit


def test_command_paths_are_unique() -> None:
    routes = [("POST", c.path) for c in commands.BATCH_COMMANDS]
    routes += [(c.method, c.path) for c in commands.ALL_INTERACTIVE_COMMANDS]
    assert len(routes) == len(set(routes))
