"""Real Chromium against a real ``treazr serve`` over HTTPS, trusting the generated CA through an NSS db.

Open the first-start admin invite, enrol (WebCrypto Ed25519 key in IndexedDB), reload and still be
signed in, sign out, sign in again with the stored key. Also: without the CA the browser refuses the
site, and on a plain-HTTP LAN-style address the page explains what to do.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from tests.conftest import REPO, LiveServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _trusting_home(tmp_path: Path, ca: Path | None) -> Path:
    """A HOME whose NSS database trusts ``ca`` for websites (what a person does once per device)."""
    home = tmp_path / ("home-trusting" if ca else "home-plain")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True, exist_ok=True)
    certutil = shutil.which("certutil")
    assert certutil, "certutil is missing: apt-get install libnss3-tools (dev.sh lists it)"
    subprocess.run([certutil, "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True, capture_output=True)
    if ca is not None:
        subprocess.run([certutil, "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "Treazr test CA", "-i", str(ca)],
                       check=True, capture_output=True)
    return home


def _launch(playwright: Any, home: Path, extra: tuple[str, ...] = ()) -> Browser:
    browser: Browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, *extra],
                                                  env={**os.environ, "HOME": str(home)})
    return browser


def _invite_url(server: LiveServer) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"(https://127\.0\.0\.1:\d+/invite#[A-Za-z0-9_-]+)", server.log())
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no first-start invite in the server log:\n{server.log()}")


def _me(page: Page) -> int:
    status: int = page.evaluate("fetch('/api/me').then(r => r.status)")
    return status


@pytest.fixture
def playwright_instance() -> Iterator[Any]:
    with sync_playwright() as playwright:
        yield playwright


def test_enrol_reload_sign_out_and_sign_in_again_over_trusted_https(
        live_server: LiveServer, tmp_path: Path, playwright_instance: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    invite = _invite_url(live_server)
    browser = _launch(playwright_instance, _trusting_home(tmp_path, live_server.ca_path))
    try:
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(invite)  # a certificate error would raise here: nothing is ignored
        assert page.evaluate("window.isSecureContext") is True
        expect(page.locator("#device-label")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "signin-1-invite.png"))
        page.fill("#device-label", "Test Chromium")
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/$"))
        assert _me(page) == 200
        key = page.evaluate("""() => new Promise((resolve, reject) => {
            const open = indexedDB.open('treazr-auth', 1);
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
              const get = open.result.transaction('keys').objectStore('keys').get('device');
              get.onsuccess = () => resolve({extractable: get.result.privateKey.extractable,
                                             type: get.result.privateKey.type,
                                             algorithm: get.result.privateKey.algorithm.name,
                                             name: get.result.name});
            };
        })""")
        assert key == {"extractable": False, "type": "private", "algorithm": "Ed25519", "name": "admin"}

        page.reload()
        assert _me(page) == 200  # still signed in after a reload (HttpOnly cookie)
        assert "treazr_session" not in page.evaluate("document.cookie")
        assert [c["name"] for c in page.context.cookies()] == ["__Host-treazr_session"]  # HTTPS: prefixed

        page.goto(f"{live_server.url}/devices")
        expect(page.locator("#device-list li")).to_have_count(1)
        expect(page.locator("#device-list")).to_contain_text("Test Chromium")
        page.click("#add-device")
        expect(page.locator("#invite-qr")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "signin-2-devices.png"))
        page.click("[data-signout]")
        page.wait_for_url(re.compile(r"/signin"))
        expect(page.locator("#signin-button")).to_have_text("Sign in as admin")
        assert _me(page) == 401  # signed out, and not silently signed back in
        page.screenshot(path=str(ARTIFACTS / "signin-3-signed-out.png"))

        page.click("#signin-button")
        page.wait_for_url(re.compile(r"/$"))
        assert _me(page) == 200
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        browser.close()
    log = live_server.log()
    assert "Traceback" not in log, log


def test_without_the_ca_chromium_refuses_the_site(live_server: LiveServer, tmp_path: Path,
                                                  playwright_instance: Any) -> None:
    browser = _launch(playwright_instance, _trusting_home(tmp_path, None))
    try:
        page = browser.new_page()
        with pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
            page.goto(f"{live_server.url}/signin")
    finally:
        browser.close()


def test_a_plain_http_lan_address_explains_what_to_do(tmp_path: Path, playwright_instance: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    server = start_server(tmp_path / "plain-data", tmp_path / "plain.log", tls="off")
    port = server.url.rsplit(":", 1)[1]
    # treazr.lan resolves to 127.0.0.1 inside this browser only: an http:// name that is not localhost,
    # like http://192.168.1.20 at home, so the page is not a secure context
    browser = _launch(playwright_instance, _trusting_home(tmp_path, None),
                      ("--host-resolver-rules=MAP treazr.lan 127.0.0.1",))
    try:
        page = browser.new_page()
        page.goto(f"http://treazr.lan:{port}/signin")
        assert page.evaluate("window.isSecureContext") is False
        expect(page.locator("#auth-insecure")).to_be_visible()
        expect(page.locator("#auth-ready")).to_be_hidden()
        page.screenshot(path=str(ARTIFACTS / "signin-4-insecure.png"))
        page.click("#auth-insecure a")
        expect(page.locator("h1")).to_contain_text("doesn't trust this connection")
        page.screenshot(path=str(ARTIFACTS / "signin-5-secure-context-help.png"))
    finally:
        browser.close()
        assert server.stop() == 0
