"""The web app (web/) as a site serves it: which files, each one's Content-Type and Cache-Control, and
the generated `config.js`.

Shared by the dev stack's server (devstack/web_server.py, the local stage) and `make deploy`'s upload
to the site bucket (deploy/site.py), so both serve the same files with the same configuration script.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
SITE_BUCKET = "site"  # short name: the bucket is settings.resource_name(SITE_BUCKET, stage)
CONFIG_SCRIPT = "config.js"  # generated per stage, never taken from web/

# What web/ holds, spelled out: `mimetypes` answers differently across Python versions for .js.
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
# The file names are not content-hashed, so nothing is cached for long: the entry points are
# revalidated on every load, the rest kept 5 minutes by browsers. `make deploy` invalidates `/*`
# at the edge, so CloudFront serves a new version at once.
ENTRY_POINTS_CACHE_CONTROL = "no-cache"
ASSETS_CACHE_CONTROL = "public, max-age=300"
_ENTRY_POINTS = {"index.html", CONFIG_SCRIPT}


def config_script(api_url: str, websocket_url: str = "") -> bytes:
    """The `config.js` the app loads before its modules: where the API and the WebSocket endpoint
    (docs/realtime.md; "" when there is none, and the app then polls) are."""
    config = {"apiUrl": api_url, "websocketUrl": websocket_url}
    return f"window.STOREFRONT_CONFIG = {json.dumps(config)};\n".encode()


def content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def cache_control(key: str) -> str:
    return ENTRY_POINTS_CACHE_CONTROL if key in _ENTRY_POINTS else ASSETS_CACHE_CONTROL


def site_files(root: Path = WEB_ROOT) -> dict[str, Path]:
    """`{key: file}` of every file the site serves from `root` (keys are `/`-separated relative paths),
    leaving out hidden files and any `config.js` on disk (the generated one is served instead)."""
    files = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_file() and key != CONFIG_SCRIPT and not any(p.startswith(".") for p in key.split("/")):
            files[key] = path
    return files
