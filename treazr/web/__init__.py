"""The web layer: the Litestar app, its routes and pages. It calls the domain, never the reverse."""
