from __future__ import annotations

from litestar.testing import AsyncTestClient

from treazr import __version__
from treazr.services import Services
from treazr.web.app import create_app


async def test_healthz_reports_version_uptime_and_database(services: Services) -> None:
    async with AsyncTestClient(app=create_app(services)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["database"] == "ok"
    assert body["uptime_s"] >= 0
    assert response.headers["x-request-id"]


async def test_metrics_count_requests_by_route(services: Services) -> None:
    async with AsyncTestClient(app=create_app(services)) as client:
        await client.get("/healthz")
        await client.get("/healthz")
        response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'treazr_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert "treazr_http_request_seconds_bucket" in text


async def test_unknown_route_is_a_json_404(services: Services) -> None:
    async with AsyncTestClient(app=create_app(services)) as client:
        response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_start_page_links_hashed_immutable_assets(services: Services) -> None:
    async with AsyncTestClient(app=create_app(services)) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert "Treazr" in page.text
        href = page.text.split('rel="stylesheet" href="')[1].split('"')[0]
        assert href.startswith("/static/treazr.") and href.endswith(".css") and href != "/static/treazr.css"
        css = await client.get(href)
    assert css.status_code == 200
    assert "immutable" in css.headers["cache-control"]
