"""The web app calls its API on its own origin under /api/ (the dev stack's web server forwards it, as
the site's CloudFront distribution does deployed): no cross-origin request, so no CORS preflight."""

from __future__ import annotations

import json


def test_the_web_app_is_configured_for_its_own_origins_api(devstack, http):
    config = http.get(f"{devstack.web_url}/config.js", timeout=10)
    assert config.status_code == 200
    assert json.loads(config.text.split("=", 1)[1].strip().rstrip(";")) == {"apiUrl": "/api",
                                                                             "websocketUrl": devstack.ws_url}


def test_api_requests_on_the_web_origin_reach_the_api_as_they_are(devstack, http):
    health = http.get(f"{devstack.web_url}/api/health", timeout=10)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert health.headers["Content-Type"].startswith("application/json")
    direct = http.get(devstack.url("/products?limit=1"), timeout=10).json()
    assert http.get(f"{devstack.web_url}/api/products?limit=1", timeout=10).json() == direct  # query kept
    refused = http.post(f"{devstack.web_url}/api/auth/login", timeout=10,
                        json={"email": "nobody@example.com", "password": "Wrong-Passw0rd!"})
    assert refused.status_code == 401 and refused.json()["Code"] == "UnauthorizedError"  # body and status as sent
    unauthorized = http.get(f"{devstack.web_url}/api/orders", timeout=10, headers={"Authorization": "Bearer junk"})
    assert unauthorized.status_code == 401


def test_only_api_paths_are_forwarded(devstack, http):
    assert http.post(f"{devstack.web_url}/products", timeout=10, json={}).status_code == 404
    assert http.get(f"{devstack.web_url}/apix/health", timeout=10).status_code == 404  # a file path, not the API
    index = http.get(f"{devstack.web_url}/", timeout=10)
    assert index.status_code == 200 and "text/html" in index.headers["Content-Type"]
