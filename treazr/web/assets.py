"""Static files under content-hashed names (``app.3f2a9c1d0b.js``), served with immutable cache headers.

Templates call ``asset_url("app.js")``; JavaScript modules import each other through the import map
that ``import_map()`` returns, so a changed file gets a new name everywhere at once.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from treazr.paths import assets_dir

__all__ = ["ROUTES", "AssetManifest"]


@dataclass(frozen=True)
class AssetManifest:
    root: Path
    by_name: dict[str, str]  # logical name -> hashed name
    by_hashed: dict[str, Path]  # hashed name -> file

    @classmethod
    def build(cls, root: Path | None = None) -> AssetManifest:
        root = root or assets_dir() / "static"
        by_name: dict[str, str] = {}
        by_hashed: dict[str, Path] = {}
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            logical = path.relative_to(root).as_posix()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            stem, dot, ext = logical.rpartition(".")
            hashed = f"{stem}.{digest}.{ext}" if dot else f"{logical}.{digest}"
            by_name[logical] = hashed
            by_hashed[hashed] = path
        return cls(root, by_name, by_hashed)

    def url(self, name: str) -> str:
        try:
            return f"/static/{self.by_name[name]}"
        except KeyError:
            raise KeyError(f"no static asset named {name!r}") from None

    def import_map(self) -> str:
        """A JSON import map so ``import "/static/x.js"`` resolves to the hashed file."""
        imports = {f"/static/{name}": self.url(name) for name in self.by_name if name.endswith(".js")}
        return json.dumps({"imports": imports})


@get("/static/{name:path}", sync_to_thread=False, opt={"public": True})
def static_file(request: Request, name: FromPath[str]) -> Response[bytes]:
    """Anyone: the web app's own scripts, styles and images (no personal data)."""
    manifest: AssetManifest = request.app.state.assets
    path = manifest.by_hashed.get(name.lstrip("/"))
    if path is None:
        raise NotFoundException("no such file")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        media_type = "text/javascript"
    return Response(path.read_bytes(), media_type=media_type,
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})


ROUTES = [static_file]
