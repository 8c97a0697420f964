from __future__ import annotations

from pathlib import Path

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


def _bytes_read_by_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


async def test_healthz_answers_without_reading_the_database_file(services: Services) -> None:
    # a 16 MB library: a health check that scans it (quick_check) reads all of it on every call,
    # which let anonymous clients on the LAN stall the server
    services.db.execute("CREATE TABLE ballast (blob BLOB)")
    services.db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) "
                        "INSERT INTO ballast SELECT randomblob(4000) FROM n")
    async with AsyncTestClient(app=create_app(services)) as client:
        await client.get("/healthz")
        before = _bytes_read_by_this_process()
        for _ in range(20):
            response = await client.get("/healthz")
            assert response.json()["database"] == "ok"
        read = _bytes_read_by_this_process() - before
    assert read < 2_000_000, f"20 health checks read {read} bytes"


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
