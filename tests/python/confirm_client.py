#!/usr/bin/env python3
"""Confirmation through the official MCP Python SDK (`mcp` on PyPI).

tests/confirm.rs runs this against the built binary over stdio, with the
server's OSC API pointed at an in-test emulator, and checks what it prints
and what the emulator holds afterwards.

    OSC_MCP_TEST_TOKEN=... python tests/python/confirm_client.py \
        --server BIN --api-url URL --mode legacy|auto --answer key|wrong|decline --key user.x
    [OSC_MCP_TEST_BEARER=...] python tests/python/confirm_client.py --url http://127.0.0.1:PORT/mcp ...

With --url, OSC_MCP_TEST_BEARER (if set) is sent as the server's bearer token.

`--mode legacy` uses the initialize handshake (the session era: the server
sends elicitation/create); `--mode auto` discovers 2026-07-28 (the retry
era: the SDK answers the InputRequiredResult through the same callback).
The callback plays the human. It prints one JSON document: the negotiated
protocol version, the forms the human was shown, and per call `isError` and
the text content.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="the osc-secrets-mcp binary, run over stdio")
    parser.add_argument("--api-url", help="with --server: the OSC API it uses")
    parser.add_argument("--url", help="instead of --server: a running server's http://HOST:PORT/mcp")
    parser.add_argument("--mode", choices=["legacy", "auto"], required=True)
    parser.add_argument("--answer", choices=["key", "wrong", "decline"], required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()

    forms: list[dict[str, Any]] = []

    async def human(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        forms.append(dump(params))
        if args.answer == "decline":
            return types.ElicitResult(action="decline")
        typed = f"  {args.key} " if args.answer == "key" else args.key + "-not"
        return types.ElicitResult(action="accept", content={"key": typed})

    server: Any = args.url
    if args.server:
        env = {"OSC_ACCESS_TOKEN": os.environ["OSC_MCP_TEST_TOKEN"], "PATH": os.environ.get("PATH", "")}
        server = StdioServerParameters(command=args.server, args=["--api-url", args.api_url], env=env)
    bearer = os.environ.get("OSC_MCP_TEST_BEARER", "")
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
    if args.url and bearer:
        server = streamable_http_client(args.url, http_client=http)
    calls: dict[str, Any] = {}
    async with http, Client(server, mode=args.mode, elicitation_callback=human) as client:
        for name, tool, arguments in [
            ("replace", "set_tenant_secret", {"key": args.key, "generate": {}}),
            ("delete", "delete_tenant_secret", {"key": args.key}),
        ]:
            result = dump(await client.call_tool(tool, arguments))
            calls[name] = {
                "isError": bool(result.get("isError", False)),
                "text": "\n".join(c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"),
            }
        version = client.session.protocol_version
    print(json.dumps({"protocolVersion": version, "forms": forms, "calls": calls}, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
