#!/usr/bin/env python3
"""Sign in to osc-secrets-mcp through its OAuth authorization server with the
official MCP Python SDK's OAuth client (`OAuthClientProvider`), then call tools.

tests/it/oauth_provider.rs runs this against the built binary started with
--oauth-issuer and the authorization server of tests/oauth/provider.mjs. The
SDK does everything a connector does: it is refused with 401, reads the
protected resource metadata, discovers the authorization server, registers
itself dynamically, authorizes with PKCE and the resource parameter, and
exchanges the code for a JWT access token. The "person" here follows the
authorization URL with plain HTTP requests and signs in on the provider's
form as --login.

Step-up: the provider first allows the person only secrets:read. The client
lists and reads; then the provider allows every scope (as an administrator
granting a role), and a write is refused with 403 insufficient_scope, which
makes the SDK authorize again asking for secrets:write, and the retried
write succeeds.

Prints one JSON document on stdout. Access tokens are never printed; their
signatures are listed under `signatures` so that the test can check that
none of them appears in the server's log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# Never contacted: the person's "browser" stops at the redirect to it.
REDIRECT = "http://127.0.0.1:9/callback"


class Memory:
    """Token storage for one run."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.signatures: list[str] = []
        self.scopes: list[str | None] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.signatures.append(tokens.access_token.rsplit(".", 1)[-1])
        self.scopes.append(tokens.scope)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Person:
    """Follows an authorization URL as a browser would, signing in on the form."""

    def __init__(self, login: str) -> None:
        self.login = login
        self.browser = httpx2.AsyncClient(follow_redirects=False, timeout=30.0)
        self.result: AuthorizationCodeResult | None = None
        self.authorizations = 0
        self.authorization_urls: list[dict[str, list[str]]] = []

    async def redirect(self, url: str) -> None:
        self.authorizations += 1
        self.authorization_urls.append(parse_qs(urlparse(url).query))
        location = url
        response = await self.browser.get(location)
        for _ in range(20):
            if response.status_code in (302, 303):
                location = urljoin(location, response.headers["location"])
                if location.startswith(REDIRECT):
                    query = parse_qs(urlparse(location).query)
                    self.result = AuthorizationCodeResult(
                        code=query["code"][0],
                        state=query.get("state", [None])[0],
                        iss=query.get("iss", [None])[0],
                    )
                    return
                response = await self.browser.get(location)
            elif response.status_code == 200 and "<form" in response.text:
                action = re.search(r'action="([^"]+)"', response.text)
                assert action, response.text
                location = urljoin(location, action.group(1))
                response = await self.browser.post(location, data={"login": self.login})
            else:
                raise RuntimeError(f"the authorization server answered {response.status_code}: {response.text[:300]}")
        raise RuntimeError("too many redirects at the authorization server")

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        result, self.result = self.result, None
        return result


def dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def call(session: ClientSession, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = dump(await session.call_tool(name, arguments))
    return {
        "isError": bool(result.get("isError", False)),
        "text": "\n".join(c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"),
    }


async def allow(provider: str, account: str, scope: str) -> None:
    async with httpx2.AsyncClient() as admin:
        answer = await admin.post(f"{provider}/test/allow", json={"account": account, "scope": scope})
        answer.raise_for_status()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the server's http://HOST:PORT/mcp")
    parser.add_argument("--provider", required=True, help="the authorization server's issuer URL")
    parser.add_argument("--login", default="alice")
    parser.add_argument("--key", default="user.oauth-python")
    args = parser.parse_args()

    await allow(args.provider, args.login, "secrets:read")
    storage = Memory()
    person = Person(args.login)
    oauth = OAuthClientProvider(
        server_url=args.url,
        client_metadata=OAuthClientMetadata(
            client_name="osc-secrets-mcp oauth test",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
    )
    report: dict[str, Any] = {}
    timeout = httpx2.Timeout(30.0, read=120.0)
    async with httpx2.AsyncClient(auth=oauth, timeout=timeout) as http:
        async with streamable_http_client(args.url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                report["toolsReadOnly"] = sorted(t["name"] for t in dump(await session.list_tools())["tools"])
                report["listReadOnly"] = await call(session, "list_tenant_secrets", {})
                await allow(args.provider, args.login, "secrets:read secrets:write secrets:delete")
                report["setAfterStepUp"] = await call(
                    session, "set_tenant_secret", {"key": args.key, "generate": {}}
                )
                report["toolsAfter"] = sorted(t["name"] for t in dump(await session.list_tools())["tools"])
                report["deleteKey"] = await call(session, "delete_tenant_secret", {"key": args.key})
    report["authorizations"] = person.authorizations
    report["requested"] = [
        {"resource": q.get("resource", []), "scope": q.get("scope", []), "method": q.get("code_challenge_method", [])}
        for q in person.authorization_urls
    ]
    report["grantedScopes"] = storage.scopes
    report["clientRegistered"] = storage.client is not None and bool(storage.client.client_id)
    report["signatures"] = storage.signatures
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
