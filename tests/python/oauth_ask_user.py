#!/usr/bin/env python3
"""Open askUser links as a signed-in person, with the official MCP Python
SDK's OAuth client, and try one of them as an agent would.

tests/it/oauth_page.rs runs this against the built binary started with
--oauth-issuer and --oauth-page-client-id, and the authorization server of
tests/oauth/provider.mjs. The client signs in as --login (every scope), then
calls set_tenant_secret with askUser for each --key: the SDK shows no page
itself (no URL elicitation), so each call answers with a pending link. The
links go to the report for the browser to use.

With --agent-key, it also plays the agent that holds the person's access
token and tries to fill that key's link itself: it POSTs the form to the
link, with the token as a bearer header and the page's own Origin, as a
script can. The report says what the page answered.

Prints one JSON document on stdout. The access token is never printed; its
signatures are listed under `signatures`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata

from oauth_client import REDIRECT, Memory, Person, allow, dump


def post_as_agent(url: str, token: str, value: str) -> dict[str, Any]:
    """The form, sent by a script that holds the person's token."""
    parts = urllib.parse.urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    body = urllib.parse.urlencode({"value": value, "multiline": "", "action": "save"}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Origin": origin,
            "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return {"status": response.status, "body": response.read().decode()}
    except urllib.error.HTTPError as answer:
        return {"status": answer.code, "body": answer.read().decode()}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the server's http://HOST:PORT/mcp")
    parser.add_argument("--provider", required=True, help="the authorization server's issuer URL")
    parser.add_argument("--login", default="alice")
    parser.add_argument("--key", action="append", default=[], help="a key to open an askUser link for")
    parser.add_argument("--agent-key", help="the key whose link the agent tries to fill itself")
    parser.add_argument("--agent-value", default="typed-by-an-agent")
    args = parser.parse_args()

    await allow(args.provider, args.login, "secrets:read secrets:write secrets:delete")
    storage = Memory()
    person = Person(args.login)
    oauth = OAuthClientProvider(
        server_url=args.url,
        client_metadata=OAuthClientMetadata(
            client_name="osc-secrets-mcp askUser test",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope="secrets:read secrets:write secrets:delete",
        ),
        storage=storage,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
    )
    report: dict[str, Any] = {"links": {}}
    timeout = httpx2.Timeout(30.0, read=120.0)
    async with httpx2.AsyncClient(auth=oauth, timeout=timeout) as http:
        async with streamable_http_client(args.url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                for key in args.key + ([args.agent_key] if args.agent_key else []):
                    result = dump(await session.call_tool("set_tenant_secret", {"key": key, "askUser": True}))
                    structured = result.get("structuredContent") or {}
                    report["links"][key] = {
                        "isError": bool(result.get("isError", False)),
                        "status": structured.get("status"),
                        "url": structured.get("url"),
                        "text": "\n".join(
                            c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"
                        ),
                    }
    if args.agent_key:
        link = report["links"][args.agent_key]["url"]
        assert link, report
        assert storage.tokens is not None
        report["agent"] = await asyncio.to_thread(
            post_as_agent, link, storage.tokens.access_token, args.agent_value
        )
    report["signatures"] = storage.signatures
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
