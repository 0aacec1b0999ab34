"""Project Arachnid's unmodified Shield client (``arachnid-shield-sdk``) against orbweaver under a real uvicorn.

The client reads ``ARACHNID_SHIELD_URL`` once, at import, so it runs in a subprocess: one small script makes
every call (sync and async clients) and prints each answer, or each error's ``detail``, as a JSON line.
A loopback HTTP server serves an image for ``POST /v1/url/`` to fetch (allowed by ``[web] shield_fetch_allow``).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from review.stage import ReviewStage
from tests.fixtures.webapp import ServedApp
from tests.unit.web.conftest import make_settings
from tests.unit.web.seed import flip_bits, image, seed_candidate
from tests.unit.web.test_api import hashes_of
from web.auth import Role

pytestmark = pytest.mark.integration

MEDIA_LIMIT = 1_048_576

SCRIPT = r"""
import asyncio, dataclasses, json, os, sys
from arachnid_shield_sdk import ArachnidShield, ArachnidShieldAsync, ArachnidShieldException, ScanMediaFromPdq

args = json.loads(sys.stdin.read())
bodies = {name: bytes.fromhex(hex_body) for name, hex_body in args["bodies"].items()}


def shown(value):
    data = dataclasses.asdict(value)
    return json.loads(json.dumps(data, default=lambda v: getattr(v, "value", str(v))))


def call(name, fn, *a):
    try:
        out = {"ok": shown(fn(*a))}
    except ArachnidShieldException as exc:
        out = {"error": exc.detail.detail}
    print(json.dumps({"call": name, **out}), flush=True)


shield = ArachnidShield(username=args["user"], password=args["password"])
call("exact", shield.scan_media_from_bytes, bodies["exact"], "image/jpeg")
call("near", shield.scan_media_from_bytes, bodies["near"], "image/jpeg")
call("none", shield.scan_media_from_bytes, bodies["none"], "image/jpeg")
call("too_large", shield.scan_media_from_bytes, bodies["too_large"], "image/png")
call("url_known", shield.scan_media_from_url, args["known_url"])
call("url_fetched", shield.scan_media_from_url, args["fetch_url"])
call("url_private", shield.scan_media_from_url, args["private_url"])
call("pdq", shield.scan_pdq_hashes, ScanMediaFromPdq(hashes=args["pdqs"]))
call("bad_token", ArachnidShield(username=args["user"], password="owt_wrong").scan_pdq_hashes,
     ScanMediaFromPdq(hashes=args["pdqs"]))


async def run_async():
    client = ArachnidShieldAsync(username=args["user"], password=args["password"])
    try:
        out = {"ok": shown(await client.scan_media_from_bytes(bodies["exact"], "image/jpeg"))}
    except ArachnidShieldException as exc:
        out = {"error": exc.detail.detail}
    print(json.dumps({"call": "async_exact", **out}), flush=True)

asyncio.run(run_async())
"""


class _Image(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("shield")
    settings = make_settings(tmp_path, api_lists_check_s=0, api_max_media_bytes=MEDIA_LIMIT, shield_url_fetch=True,
                             shield_fetch_allow=["127.0.0.1"])
    served = ServedApp(tmp_path, settings)
    _Image.body = image(6)
    images = ThreadingHTTPServer(("127.0.0.1", 0), _Image)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    try:
        exact, near, none, known, fetched = image(1), image(2), image(3), image(5), image(6)
        h = {name: hashes_of(body) for name, body in
             {"exact": exact, "near": near, "none": none, "fetched": fetched}.items()}
        import_entries(served.store, "known", [
            ListEntry(value=h["exact"]["sha256"], algorithm="sha256", label="e", classification="nationally_illegal"),
            ListEntry(value=flip_bits(h["near"]["pdq"], 10), algorithm="pdq", label="n",
                      classification="harmful_abusive"),
            ListEntry(value=flip_bits(h["fetched"]["pdq"], 4), algorithm="pdq", label="f",
                      classification="baseline_csam"),
        ], source="test")
        seed_candidate(served.store, served.blobs, ReviewStage(served.bus, served.store, settings.review), known,
                       media_url="https://site.test/known.jpg", distance=8)
        served.app.state.ctx.accounts.create_user("acme", "correct horse battery", [Role.HASH_CHECK.value],
                                                  actor="test")
        token_id, secret = served.app.state.ctx.accounts.issue_token("acme", "shield", actor="test")
        served.start()
        port = images.server_address[1]
        args = {
            "user": str(token_id), "password": secret,
            "bodies": {"exact": exact.hex(), "near": near.hex(), "none": none.hex(),
                       "too_large": (b"\0" * (MEDIA_LIMIT + 1)).hex()},
            "known_url": "https://site.test/known.jpg", "fetch_url": f"http://127.0.0.1:{port}/m/6.jpg",
            "private_url": "http://10.0.0.1/x.jpg",
            "pdqs": [base64.b64encode(bytes.fromhex(h["near"]["pdq"])).decode(),
                     base64.b64encode(bytes.fromhex(h["none"]["pdq"])).decode()],
        }
        env = {**os.environ, "ARACHNID_SHIELD_URL": served.base_url + "/", "NO_PROXY": "127.0.0.1,localhost"}
        done = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT], input=json.dumps(args), env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        yield {"calls": {line.pop("call"): line for line in lines}, "hashes": h, "args": args}
    finally:
        images.shutdown()
        images.server_close()
        served.stop()


def test_media_exact_near_and_no_match(answers: dict[str, Any]) -> None:
    calls, h = answers["calls"], answers["hashes"]
    exact = calls["exact"]["ok"]
    assert (exact["classification"], exact["match_type"], exact["sha256_hex"]) == (
        "csam", "exact", h["exact"]["sha256"])
    assert exact["sha1_base32"] == base64.b32encode(bytes.fromhex(h["exact"]["sha1"])).decode().rstrip("=")
    near = calls["near"]["ok"]
    assert (near["classification"], near["match_type"]) == ("harmful-abusive-material", "near")
    assert near["near_match_details"] == [{"timestamp": 0.0, "sha1_base32": "", "sha256_hex": "",
                                           "classification": "harmful-abusive-material"}]
    none = calls["none"]["ok"]
    assert (none["classification"], none["match_type"], none["near_match_details"]) == ("no-known-match", None, None)
    assert calls["async_exact"] == calls["exact"]


def test_url_known_fetched_and_refused(answers: dict[str, Any]) -> None:
    calls, h = answers["calls"], answers["hashes"]
    assert (calls["url_known"]["ok"]["classification"], calls["url_known"]["ok"]["match_type"]) == ("csam", "near")
    fetched = calls["url_fetched"]["ok"]
    assert (fetched["classification"], fetched["sha256_hex"]) == ("csam", h["fetched"]["sha256"])
    assert "refused-address" in calls["url_private"]["error"]


def test_pdq_match_and_no_match(answers: dict[str, Any]) -> None:
    near_query, none_query = answers["args"]["pdqs"]
    scanned = answers["calls"]["pdq"]["ok"]["scanned_hashes"]
    assert (scanned[near_query]["classification"], scanned[near_query]["match_type"]) == (
        "harmful-abusive-material", "near")
    assert scanned[none_query] == {"classification": "no-known-match", "match_type": None,
                                   "near_match_details": None}


def test_bad_token_and_too_large_body_reach_the_clients_error_path(answers: dict[str, Any]) -> None:
    assert answers["calls"]["bad_token"] == {"error": "authentication required"}
    assert answers["calls"]["too_large"] == {"error": f"request body larger than {MEDIA_LIMIT} bytes"}
