#!/usr/bin/env python3
"""The resource and the prompts through the official MCP Python SDK (`mcp` on PyPI).

tests/resources.rs and tests/prompts.rs run this against the built binary
over stdio, with the server's OSC API pointed at an in-test emulator:

    OSC_MCP_TEST_TOKEN=... python tests/python/resources_client.py \
        --server BIN --api-url URL --mode legacy|auto [--keys PATTERNS]

It lists and reads the resources, reads an unknown URI, lists the prompts
and gets each with good and bad arguments, then prints one JSON document.
Errors are reported as their JSON-RPC code and message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError


def dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def attempt(call: Any) -> dict[str, Any]:
    try:
        return {"ok": dump(await call)}
    except MCPError as e:
        return {"error": {"code": e.error.code, "message": e.error.message}}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="the osc-secrets-mcp binary")
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--mode", choices=["legacy", "auto"], required=True)
    parser.add_argument("--keys", default="")
    args = parser.parse_args()

    env = {"OSC_ACCESS_TOKEN": os.environ["OSC_MCP_TEST_TOKEN"], "PATH": os.environ.get("PATH", "")}
    server_args = ["--api-url", args.api_url] + (["--keys", args.keys] if args.keys else [])
    server = StdioServerParameters(command=args.server, args=server_args, env=env)
    async with Client(server, mode=args.mode) as client:
        report = {
            "protocolVersion": client.session.protocol_version,
            "resources": await attempt(client.list_resources()),
            "read": await attempt(client.read_resource("osc://tenant-secrets")),
            "readUnknown": await attempt(client.read_resource("osc://tenant-secrets/other")),
            "prompts": await attempt(client.list_prompts()),
            "wire": await attempt(
                client.get_prompt(
                    "wire-secret-into-service",
                    {"key": "user.db-password", "serviceId": "eyevinn-db", "secretName": "dbpassword"},
                )
            ),
            "rotate": await attempt(client.get_prompt("rotate-credential", {"key": "user.db-password"})),
            "rotateBadKey": await attempt(client.get_prompt("rotate-credential", {"key": "db-password"})),
            "unknownPrompt": await attempt(client.get_prompt("no-such-prompt", {})),
        }
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
