"""The README's commands are the ones the tests and CI run, so a user who pastes them gets what was tested.

Each command block of the README is checked here against the code that prints or runs it: the demo's curl
and Claude Code lines are what start-proxies prints (and tests/integration runs them), the config parses,
every ``memory-proxy`` command exists with the options shown, every ``./RUN_TESTS.sh`` mode the README
names exists, and the modes it says CI runs are the ones .ci/run runs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from proxy.cli import app as memory_proxy
from proxy.config import demo_config, parse_config
from proxy.launcher import claude_code_example, curl_example

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEMO_URL = "http://127.0.0.1:8764"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def commands() -> list[str]:
    """Every command line of the README's bash blocks, comments removed."""
    lines = [line.split("  #")[0].strip() for block in blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_demo_curl_is_the_one_start_proxies_prints():
    """tests/integration/test_entry_points.py runs the printed curl; the README shows the same one."""
    assert curl_example(demo_config(), DEMO_URL) in commands()


def test_the_claude_code_line_is_the_one_start_proxies_prints():
    """tests/integration/test_claude_code_cli.py runs the printed line against the demo with no flags."""
    assert claude_code_example(DEMO_URL) in commands()


def test_the_config_example_is_a_valid_config():
    [example] = blocks("yaml")
    config = parse_config(yaml.safe_load(example), source="README.md")
    assert config.model_names


@pytest.mark.parametrize(
    "command", [c for c in commands() if c.startswith("memory-proxy ")], ids=lambda command: command[:60]
)
def test_each_memory_proxy_command_exists_with_the_options_shown(command):
    words = [w for w in shlex.split(command.replace("[", "").replace("]", "")) if w != ">"]
    subcommand = [w for w in words[1:] if not w.startswith("-")][:2]
    result = CliRunner().invoke(memory_proxy, [*subcommand, "--help"])
    assert result.exit_code == 0, result.output
    for option in (w for w in words if w.startswith("--")):
        assert option in result.output, f"{command}: {option} is not an option of {' '.join(subcommand)}"


def test_every_run_tests_mode_the_readme_names_exists():
    script = (ROOT / "RUN_TESTS.sh").read_text(encoding="utf-8")
    usage = re.search(r"usage: \$0 \[([a-z0-9|]+)\]", script).group(1).split("|")
    other_modes = re.search(r"Other modes: (.*?), with extra", README, re.DOTALL).group(1)
    named = {*re.findall(r"\./RUN_TESTS\.sh ([a-z0-9]+)", README), *re.findall(r"`([a-z0-9]+)`", other_modes)}
    assert len(named) > 5 and named <= set(usage), named - set(usage)


def test_ci_runs_the_modes_the_readme_says_it_does():
    ci = re.findall(r"\./RUN_TESTS\.sh ([a-z0-9]+)", (ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    said = re.search(r"CI \(`\.ci/run`\) runs `(\w+)`, then:\n((?:- .*\n(?:  .*\n)*)+)", README)
    assert said is not None
    assert ci == [said.group(1), *re.findall(r"^- `([a-z]+)`:", said.group(2), re.M)]


def _client_table() -> list[list[str]]:
    heading = r"\| client \| recognised by \(User-Agent\) \| project from \| client id \|\n"
    table = re.search(heading + r"\|[-|]+\|\n((?:\|.*\|\n)+)", README)
    assert table, "the README's client table is missing"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in table.group(1).splitlines()]


def test_the_client_table_is_the_shipped_rules():
    """Each row's User-Agents are recognised as its client id by the built-in rules, a row says its client's
    project comes from its working directory exactly when its rule finds one, and every rule has a row."""
    from starlette.datastructures import Headers

    from proxy.config import UserIdMappings
    from proxy.identification import DEFAULT_HEADER_PATTERNS, ClientIdentifier

    identifier = ClientIdentifier(UserIdMappings())
    rows = _client_table()
    for _, agents, project_from, client_id in rows:
        for agent in re.findall(r"`([^`]+)`", agents):
            identity = identifier.identify(Headers({"user-agent": agent}))
            assert identity.user_id == client_id.strip("`"), agent
            rule = identity.matched_pattern
            assert ("working directory" in project_from) == (rule is not None and rule.project is not None)
    listed = {row[3].strip("`") for row in rows}
    assert {rule.user_id for rule in DEFAULT_HEADER_PATTERNS} <= listed
