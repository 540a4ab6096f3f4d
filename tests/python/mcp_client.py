#!/usr/bin/env python3
"""Drive osc-secrets-mcp over HTTP with the official MCP Python SDK (`mcp` on PyPI).

tests/http.rs runs this against the built binary and an in-test OSC emulator
and checks both what it prints and what the emulator holds afterwards. It can
also be run by hand against any running server:

    OSC_MCP_TEST_TOKEN=... OSC_MCP_TEST_VALUE=... \
        python tests/python/mcp_client.py --transport streamable --url http://127.0.0.1:8765/mcp

Inputs that are secrets come from the environment, never from argv:
  OSC_MCP_TEST_TOKEN  the server's bearer token (omit for a server without one)
  OSC_MCP_TEST_VALUE  the secret value to store; it must never be printed back

It lists the tools and calls every one of them, on success and error paths,
then prints one JSON document on stdout: the negotiated protocol version, the
tool list (name, annotations, whether an output schema is present) and, per
call, `isError`, `structuredContent` and the text content.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client


def dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def call(session: ClientSession, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = dump(await session.call_tool(name, arguments))
    return {
        "tool": name,
        "isError": bool(result.get("isError", False)),
        "structuredContent": result.get("structuredContent"),
        "text": "\n".join(c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"),
    }


async def exercise(session: ClientSession, args: argparse.Namespace, value: str) -> dict[str, Any]:
    if args.lifecycle == "discover":
        await session.discover()
    else:
        await session.initialize()
    tools = dump(await session.list_tools())["tools"]
    key = f"user.python-{args.suffix}"
    service = f"python-{args.suffix}"
    secret_name = f"py{args.suffix.replace('-', '')}"
    calls = {
        "list_initial": await call(session, "list_tenant_secrets", {}),
        "set_create": await call(session, "set_tenant_secret", {"key": key, "value": value, "mode": "create"}),
        "set_create_again": await call(session, "set_tenant_secret", {"key": key, "value": value, "mode": "create"}),
        "set_system": await call(session, "set_tenant_secret", {"key": "system.not-yours", "value": value}),
        "list_user": await call(session, "list_tenant_secrets", {"prefix": "user", "contains": "python"}),
        "materialize": await call(
            session,
            "materialize_tenant_secret",
            {"key": key, "serviceId": service, "secretName": secret_name},
        ),
        "materialize_missing": await call(
            session,
            "materialize_tenant_secret",
            {"key": "user.does-not-exist", "serviceId": service, "secretName": secret_name},
        ),
        "delete": await call(session, "delete_tenant_secret", {"key": key}),
        "delete_again": await call(session, "delete_tenant_secret", {"key": key}),
    }
    return {
        "transport": args.transport,
        "lifecycle": args.lifecycle,
        "protocolVersion": session.protocol_version,
        "tools": [
            {
                "name": t["name"],
                "title": t.get("title"),
                "annotations": t.get("annotations"),
                "hasOutputSchema": "outputSchema" in t,
            }
            for t in tools
        ],
        "calls": calls,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=["streamable", "sse"], required=True)
    parser.add_argument("--url", required=True, help="http://HOST:PORT/mcp, or http://HOST:PORT/sse with --transport sse")
    parser.add_argument(
        "--lifecycle",
        choices=["initialize", "discover"],
        default="initialize",
        help="initialize: the session handshake (2025-11-25 and older); discover: per-request metadata (2026-07-28)",
    )
    parser.add_argument("--suffix", default="run", help="makes the key and service names of this run unique")
    args = parser.parse_args()

    token = os.environ.get("OSC_MCP_TEST_TOKEN", "")
    value = os.environ.get("OSC_MCP_TEST_VALUE", "python-sdk-test-value")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    if args.transport == "sse":
        async with sse_client(args.url, headers=headers, timeout=30.0) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                report = await exercise(session, args, value)
    else:
        timeout = httpx2.Timeout(30.0, read=300.0)
        async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
            async with streamable_http_client(args.url, http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as session:
                    report = await exercise(session, args, value)

    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
