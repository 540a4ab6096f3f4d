#!/usr/bin/env python3
"""Drive askUser with the official MCP Python SDK (`mcp` on PyPI), playing the human.

tests/ask_user.rs runs this against the built binary and an in-test OSC
emulator, over stdio or Streamable HTTP, in either protocol era, and checks
what it prints and what the emulator holds afterwards.

The elicitation callback plays the human: it takes the one-time page's URL
from the URL elicitation, posts the form to it as a browser would (with the
page's own Origin) and answers accept, or answers decline. Without the
callback the client advertises no elicitation: the tool answers with a
pending link, which this script then posts the same way, as the human would
after the agent showed it.

Inputs that are secrets come from the environment, never from argv:
  OSC_MCP_TEST_TOKEN   the server's bearer token (HTTP; omit for none)
  OSC_MCP_TEST_VALUE   the value the human types; it must never come back
  OSC_MCP_TEST_SERVER  with --stdio: JSON {"command", "args", "env"} to launch

Prints one JSON document: the negotiated protocol version, the tool result,
every elicitation request and notification the client received, the page's
answers, and a list_tenant_secrets result taken at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.parse
import urllib.request
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters, types
from mcp.client.streamable_http import streamable_http_client


def dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def post_page(url: str, value: str) -> dict[str, Any]:
    """Submits the one-time page as a browser would: a form post with the page's Origin."""
    parts = urllib.parse.urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    body = urllib.parse.urlencode({"value": value, "multiline": "", "action": "save"}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Origin": origin, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return {"status": response.status, "body": response.read().decode("utf-8", "replace")}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="http://HOST:PORT/mcp (Streamable HTTP)")
    parser.add_argument("--stdio", action="store_true", help="launch the server from OSC_MCP_TEST_SERVER")
    parser.add_argument("--mode", choices=["legacy", "auto"], required=True)
    parser.add_argument("--human", choices=["types", "declines", "unreachable"], required=True)
    parser.add_argument("--tool", default="set_tenant_secret")
    parser.add_argument("--arguments", required=True, help="the tool's arguments, as JSON")
    args = parser.parse_args()

    value = os.environ.get("OSC_MCP_TEST_VALUE", "python-sdk-typed-value")
    token = os.environ.get("OSC_MCP_TEST_TOKEN", "")
    elicitations: list[Any] = []
    messages: list[Any] = []
    pages: list[Any] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        elicitations.append(dump(params))
        if args.human == "declines":
            return types.ElicitResult(action="decline")
        url = getattr(params, "url", None)
        if url is None:
            return types.ElicitResult(action="cancel")
        pages.append(await asyncio.to_thread(post_page, url, value))
        return types.ElicitResult(action="accept")

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):
            messages.append({"exception": repr(message)})
        else:
            messages.append(dump(message))

    callback = None if args.human == "unreachable" else elicit
    options: dict[str, Any] = {
        "mode": args.mode,
        "elicitation_callback": callback,
        "message_handler": on_message,
        "read_timeout_seconds": 120,
    }
    report: dict[str, Any] = {"mode": args.mode, "human": args.human}

    async def run(client: Client) -> None:
        report["protocolVersion"] = client.session.protocol_version if client.session else None
        result = dump(await client.call_tool(args.tool, json.loads(args.arguments)))
        report["result"] = result
        structured = result.get("structuredContent") or {}
        if args.human == "unreachable" and structured.get("status") == "pending":
            # The agent showed the link; the human opens it and types the value.
            pages.append(await asyncio.to_thread(post_page, structured["url"], value))
        report["list"] = dump(await client.call_tool("list_tenant_secrets", {}))

    if args.stdio:
        server = json.loads(os.environ["OSC_MCP_TEST_SERVER"])
        params = StdioServerParameters(command=server["command"], args=server["args"], env=server["env"])
        async with Client(params, **options) as client:
            await run(client)
    else:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        timeout = httpx2.Timeout(30.0, read=300.0)
        async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
            async with Client(streamable_http_client(args.url, http_client=http), **options) as client:
                await run(client)

    report["elicitations"] = elicitations
    report["messages"] = messages
    report["pages"] = pages
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
