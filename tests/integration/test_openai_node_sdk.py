"""The openai Node SDK's Responses calls against the proxy, each backend: create, stream, a tool loop.

The SDK comes from npm at the version locks/clients pins (./RUN_TESTS.sh installs it; the
``openai_node_sdk`` fixture in tests/conftest.py finds it). A small CommonJS script drives it and prints
what it got as JSON; the test checks that against the fake provider's predictable answers and records.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conformance.fakes import echo_reply, fake_directive
from conformance.suites.support import model_calls

pytestmark = [pytest.mark.e2e]

SCRIPT = r"""
const { OpenAI } = require(process.env.OPENAI_SDK);
const client = new OpenAI({ baseURL: process.env.PROXY_URL + "/v1", apiKey: "sk-client", maxRetries: 0 });
const tools = [{ type: "function", name: "lookup", parameters: { type: "object", properties: {} } }];

async function main() {
  const created = await client.responses.create({ model: "gpt-fake", input: process.env.ASKED });
  const stream = client.responses.stream({ model: "gpt-fake", input: process.env.STREAMED });
  const deltas = [];
  stream.on("response.output_text.delta", (event) => deltas.push(event.delta));
  const final = await stream.finalResponse();
  const first = await client.responses.create({ model: "gpt-fake", input: process.env.TOOL, tools });
  const call = first.output.find((item) => item.type === "function_call");
  const second = await client.responses.create({
    model: "gpt-fake",
    tools,
    input: [
      { role: "user", content: process.env.TOOL },
      { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
      { type: "function_call_output", call_id: call.call_id, output: "found it" },
    ],
  });
  let refused = null;
  try {
    await client.responses.create({ model: "no-such-model", input: "hi" });
  } catch (error) {
    refused = { status: error.status, code: error.code };
  }
  console.log(JSON.stringify({
    created: created.output_text, deltas, final: final.output_text, usage: final.usage,
    call: call.name, second: second.output_text, refused,
  }));
}
main().catch((error) => { console.error(error); process.exit(1); });
"""


def run_node(sdk: Path, proxy_url: str, workdir: Path, prompts: dict[str, str]) -> dict[str, Any]:
    script = workdir / "responses.cjs"
    script.write_text(SCRIPT)
    env = {"PATH": os.environ["PATH"], "OPENAI_SDK": str(sdk), "PROXY_URL": proxy_url, **prompts}
    result = subprocess.run(
        ["node", str(script)], env=env, cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def test_the_node_sdk_creates_streams_and_round_trips_a_tool(
    open_proxy, fake_provider, openai_node_sdk, tmp_path
):
    """The openai Node SDK's ``responses.create`` and ``responses.stream`` get the answer (the stream
    delta by delta, its final response with usage), a function call goes out and its output comes back
    to a final answer, and an unknown model is the SDK's typed 404."""
    prompts = {
        "ASKED": "hello from node",
        "STREAMED": "tell me more, node",
        "TOOL": f"look it up {fake_directive('tool_call', rounds=1)}",
    }
    with open_proxy() as proxy:
        got = run_node(openai_node_sdk, proxy.url, tmp_path, prompts)
    assert got["created"] == echo_reply(prompts["ASKED"])
    assert "".join(got["deltas"]) == echo_reply(prompts["STREAMED"]) and len(got["deltas"]) > 1
    assert got["final"] == echo_reply(prompts["STREAMED"])
    assert got["usage"]["output_tokens"] > 0
    assert got["call"] == "lookup"
    assert got["second"] == echo_reply(prompts["TOOL"])
    assert got["refused"] == {"status": 404, "code": "model_not_found"}
    sent = [call.json for call in model_calls(fake_provider)]
    assert [call.get("stream", False) for call in sent] == [False, True, False, False]
    assert sent[-1]["input"][-1] == {
        "type": "function_call_output",
        "call_id": sent[-1]["input"][1]["call_id"],
        "output": "found it",
    }
