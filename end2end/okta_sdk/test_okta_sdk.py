"""Okta's official Python SDK (``okta`` on PyPI, 3.x) as a real client of Riskline.

Each test makes real calls through the SDK against a real ``riskline`` process on
127.0.0.1 and asserts on the SDK's parsed model objects. The transmitter a stream is
registered with (its ``/.well-known/ssf-configuration`` and JWKS) is served by this
file with ``http.server`` in a thread.

Run by ``scripts/test``; alone (after ``cargo build -p riskline``)::

    RISKLINE_BIN=target/debug/riskline RISKLINE_SITE_ROOT=target/site \\
      target/okta-sdk-venv/bin/python -m unittest discover -s end2end/okta_sdk -v

Every test runs on SQLite, and again on PostgreSQL when ``RISKLINE_TEST_POSTGRES_URL``
names an admin URL (a fresh database is created for the run and dropped at its end).
"""

import ast
import asyncio
import datetime as dt
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from urllib.parse import urlsplit, urlunsplit

# The SDK refuses an http:// org URL unless this is set before it reads its config.
os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"

import jwt  # noqa: E402  (PyJWT, which the SDK itself depends on)
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from jwt.algorithms import RSAAlgorithm  # noqa: E402
from okta import models  # noqa: E402
from okta.client import Client  # noqa: E402
from okta.errors.http_error import HTTPError  # noqa: E402
from okta.errors.okta_api_error import OktaAPIError  # noqa: E402
from okta.pagination import PaginationHelper  # noqa: E402

API_TOKEN = "okta-sdk-compat-" + uuid.uuid4().hex
READY_RE = re.compile(r"Riskline is ready at (http://127\.0\.0\.1:\d+)/?")
READY_TIMEOUT_S = 30
POLICY_ID = "00pentityrisk0000001"
USER_RISK_CHANGE = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change"


# ---------------------------------------------------------------------------
# The transmitter: well-known documents and JWKS for any number of issuers.
# ---------------------------------------------------------------------------


class Transmitter:
    """Serves, for each issuer path ``/t/<name>``, an SSF configuration document at
    ``/t/<name>/.well-known/ssf-configuration`` and one RSA key at ``/t/<name>/jwks``;
    ``/broken-jwks`` answers a JWKS with no usable key."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "okta-sdk-test-key"
        # A key it does not publish, for forged SETs.
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        self.jwks = {"keys": [jwk]}
        transmitter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                m = re.fullmatch(r"/t/([A-Za-z0-9_-]+)(/.*)", path)
                if path == "/broken-jwks":
                    return self.reply(200, {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})
                if m and m.group(2) == "/.well-known/ssf-configuration":
                    issuer = transmitter.issuer(m.group(1))
                    return self.reply(
                        200,
                        {
                            "issuer": issuer,
                            "jwks_uri": issuer + "/jwks",
                            "delivery_methods_supported": ["urn:ietf:rfc:8935"],
                        },
                    )
                if m and m.group(2) == "/jwks":
                    return self.reply(200, transmitter.jwks)
                self.reply(404, {"error": "not found"})

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def issuer(self, name):
        return "%s/t/%s" % (self.base, name)

    def well_known(self, name):
        return self.issuer(name) + "/.well-known/ssf-configuration"

    def jwks_url(self, name):
        return self.issuer(name) + "/jwks"

    def sign(self, claims, kid=None):
        return jwt.encode(
            claims,
            self.key,
            algorithm="RS256",
            headers={"kid": kid or self.kid, "typ": "secevent+jwt"},
        )

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------
# The server: the riskline binary on a fresh database.
# ---------------------------------------------------------------------------


def find_psql():
    found = shutil.which("psql")
    if found:
        return found
    for root in sorted(os.listdir("/usr/lib/postgresql"), reverse=True) if os.path.isdir(
        "/usr/lib/postgresql"
    ) else []:
        candidate = os.path.join("/usr/lib/postgresql", root, "bin", "psql")
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("psql was not found (install Debian's postgresql package)")


class ScratchPostgres:
    """A database of its own on the server RISKLINE_TEST_POSTGRES_URL points at, dropped at
    the end (as riskline_core::scratch_postgres does for the Rust tests)."""

    def __init__(self, admin_url):
        self.admin_url = admin_url
        self.psql = find_psql()
        self.name = "riskline_okta_sdk_" + uuid.uuid4().hex
        self.run("CREATE DATABASE %s" % self.name)
        parts = urlsplit(admin_url)
        self.url = urlunsplit((parts.scheme, parts.netloc, "/" + self.name, parts.query, ""))

    def run(self, sql):
        subprocess.run(
            [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.admin_url, "-c", sql],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def drop(self):
        self.run("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)


class RisklineServer:
    def __init__(self, engine):
        bin_path = os.environ.get("RISKLINE_BIN")
        if not bin_path:
            raise RuntimeError("RISKLINE_BIN must name the riskline server binary")
        bin_path = os.path.abspath(bin_path)
        self.data_dir = tempfile.mkdtemp(prefix="riskline-okta-sdk-")
        self.postgres = None
        if engine == "postgres":
            self.postgres = ScratchPostgres(os.environ["RISKLINE_TEST_POSTGRES_URL"])
            database_url = self.postgres.url
        else:
            database_url = "sqlite://%s/riskline.db" % self.data_dir
        env = dict(os.environ)
        env.update(
            {
                "NO_COLOR": "1",
                "RISKLINE_LISTEN": "127.0.0.1:0",
                "RISKLINE_DATABASE_URL": database_url,
                "RISKLINE_BOOTSTRAP_ADMIN_EMAIL": "admin@example.com",
                "RISKLINE_BOOTSTRAP_ADMIN_PASSWORD": "Riskline-okta-sdk-Passw0rd!",
                "RISKLINE_BOOTSTRAP_API_TOKEN": API_TOKEN,
                "RISKLINE_ALLOW_PRIVATE_URLS": "true",
            }
        )
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            [bin_path],
            cwd=self.data_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.base_url = None
        self.lines = []
        deadline = time.monotonic() + READY_TIMEOUT_S
        # The ready line is the first thing of interest on stdout; keep reading it
        # in a thread afterwards so that the pipe never fills up.
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.lines.append(line)
                m = READY_RE.search(line)
                if m and not ready.is_set():
                    self.base_url = m.group(1)
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.dump()
                self.stop()
                raise RuntimeError("Riskline did not become ready (%s engine)" % engine)

    def dump(self):
        self.log.flush()
        with open(self.log_path) as f:
            sys.stderr.write("\n--- riskline stderr ---\n%s--- stdout ---\n%s--- end ---\n"
                             % (f.read()[-20000:], "".join(self.lines[-200:])))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.postgres is not None:
            self.postgres.drop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# The tests, run once per engine.
# ---------------------------------------------------------------------------


def ok(result):
    """(data, resp, err) of an SDK call that must succeed: returns (data, resp)."""
    data, resp, err = result
    if err is not None:
        raise AssertionError("the SDK call failed: %s" % (getattr(err, "message", err),))
    return data, resp


def api_error(result):
    """The OktaAPIError of an SDK call that must fail."""
    # Error returns are (data, response, error) for most calls, but (response, error)
    # for calls without a response model (publish_security_event_tokens): an SDK quirk.
    err = result[-1]
    if not isinstance(err, OktaAPIError):
        raise AssertionError("expected an OktaAPIError, got %r" % (result,))
    return err


def set_error(result):
    """The RFC 8935 error body ({err, description}) of a refused SET.

    publish_security_event_tokens returns (response, error) on failure, not the usual
    (data, response, error), and since {err, description} is not Okta's management error
    shape the SDK hands back a plain HTTPError whose message is "HTTP 400 " + the body as
    a Python dict's repr. Both are the SDK's own behaviour, against Okta too."""
    if len(result) != 2 or not isinstance(result[1], HTTPError):
        raise AssertionError("expected (response, HTTPError), got %r" % (result,))
    err = result[1]
    if err.status != 400:
        raise AssertionError("expected 400, got %s: %s" % (err.status, err.message))
    prefix = "HTTP 400 "
    if not err.message.startswith(prefix):
        raise AssertionError(err.message)
    return ast.literal_eval(err.message[len(prefix):])


def provider_request(name, settings, type_="okta"):
    return models.SecurityEventsProviderRequest(
        name=name,
        type=type_,
        settings=models.SecurityEventsProviderRequestSettings(settings),
    )


def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class OktaSdkCompat:
    """The tests; mixed into one TestCase per engine below."""

    engine = "sqlite"
    server = None
    transmitter = None

    @classmethod
    def setUpClass(cls):
        cls.transmitter = Transmitter()
        try:
            cls.server = RisklineServer(cls.engine)
        except BaseException:
            cls.transmitter.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.stop()
        if cls.transmitter is not None:
            cls.transmitter.close()

    def client(self):
        return Client({"orgUrl": self.server.base_url, "token": API_TOKEN})

    def run_failed(self):
        outcome = getattr(self, "_outcome", None)
        return outcome is not None and not getattr(outcome, "success", True)

    async def asyncSetUp(self):
        # unittest runs the loop in debug mode, which reports every step over 0.1 s.
        asyncio.get_running_loop().slow_callback_duration = 10

    async def asyncTearDown(self):
        if self.run_failed():
            self.server.dump()

    async def new_user(self, c, login):
        profile = models.UserProfile(
            login=login, email=login, first_name="Ana", last_name="Lee"
        )
        user, _ = ok(await c.create_user(models.CreateUserRequest(profile=profile)))
        return user

    # -- SSFReceiverApi ----------------------------------------------------

    async def test_providers_lifecycle(self):
        c = self.client()
        t = self.transmitter
        tag = uuid.uuid4().hex[:8]

        # By issuer and JWKS URL.
        by_jwks, _ = ok(
            await c.create_security_events_provider_instance(
                provider_request(
                    "EDR " + tag,
                    models.SecurityEventsProviderSettingsNonSSFCompliant(
                        issuer=t.issuer("jwks" + tag), jwks_url=t.jwks_url("jwks" + tag)
                    ),
                )
            )
        )
        self.assertIsInstance(by_jwks, models.SecurityEventsProviderResponse)
        self.assertTrue(by_jwks.id)
        self.assertEqual(by_jwks.name, "EDR " + tag)
        self.assertEqual(by_jwks.type, "okta")
        self.assertEqual(by_jwks.status, "ACTIVE")
        self.assertEqual(by_jwks.settings.issuer, t.issuer("jwks" + tag))
        self.assertEqual(by_jwks.settings.jwks_url, t.jwks_url("jwks" + tag))
        self.assertIsNone(by_jwks.settings.well_known_url)
        self.assertIsNotNone(by_jwks.links.var_self)
        self.assertIsNotNone(by_jwks.links.deactivate)
        self.assertIsNone(by_jwks.links.activate)

        # By well-known URL: the issuer and JWKS URL come back from the document.
        by_wk, _ = ok(
            await c.create_security_events_provider_instance(
                provider_request(
                    "MDM " + tag,
                    models.SecurityEventsProviderSettingsSSFCompliant(
                        well_known_url=t.well_known("wk" + tag)
                    ),
                    type_="mdm",
                )
            )
        )
        self.assertEqual(by_wk.status, "ACTIVE")
        self.assertEqual(by_wk.settings.well_known_url, t.well_known("wk" + tag))
        self.assertEqual(by_wk.settings.issuer, t.issuer("wk" + tag))
        self.assertEqual(by_wk.settings.jwks_url, t.jwks_url("wk" + tag))

        listed, _ = ok(await c.list_security_events_provider_instances())
        self.assertTrue(all(isinstance(p, models.SecurityEventsProviderResponse) for p in listed))
        by_id = {p.id: p for p in listed}
        self.assertIn(by_jwks.id, by_id)
        self.assertIn(by_wk.id, by_id)
        self.assertEqual(by_id[by_wk.id].settings.issuer, t.issuer("wk" + tag))

        got, _ = ok(await c.get_security_events_provider_instance(by_wk.id))
        self.assertEqual(got.to_dict(), by_wk.to_dict())

        # Replace. The SDK cannot turn the GET model of a provider registered by
        # well-known URL into a request: its response settings hold all three URLs
        # (as Okta's do), and SecurityEventsProviderRequestSettings, a oneOf, then
        # matches both variants and raises. That happens against Okta too, so this
        # request is built from the GET model's well-known URL alone.
        with self.assertRaises(ValueError):
            models.SecurityEventsProviderRequest.from_dict(got.to_dict())
        renamed = provider_request(
            got.name + " renamed",
            models.SecurityEventsProviderSettingsSSFCompliant(
                well_known_url=got.settings.well_known_url
            ),
            type_=got.type,
        )
        replaced, _ = ok(await c.replace_security_events_provider_instance(got.id, renamed))
        self.assertEqual(replaced.id, got.id)
        self.assertEqual(replaced.name, "MDM %s renamed" % tag)
        self.assertEqual(replaced.type, "mdm")
        self.assertEqual(replaced.status, "ACTIVE")
        self.assertEqual(replaced.settings.well_known_url, t.well_known("wk" + tag))
        self.assertEqual(replaced.settings.issuer, t.issuer("wk" + tag))

        # The GET model of the issuer/JWKS provider goes back through replace as the
        # SDK converts it (id, status and _links dropped, well_known_url null dropped).
        got, _ = ok(await c.get_security_events_provider_instance(by_jwks.id))
        got.name = "EDR %s again" % tag
        request = models.SecurityEventsProviderRequest.from_dict(got.to_dict())
        replaced, _ = ok(await c.replace_security_events_provider_instance(got.id, request))
        self.assertEqual(replaced.name, "EDR %s again" % tag)
        self.assertEqual(replaced.settings.issuer, t.issuer("jwks" + tag))
        self.assertEqual(replaced.settings.jwks_url, t.jwks_url("jwks" + tag))

        # Switch the issuer/JWKS provider to another issuer.
        moved, _ = ok(
            await c.replace_security_events_provider_instance(
                by_jwks.id,
                provider_request(
                    "EDR " + tag,
                    models.SecurityEventsProviderSettingsNonSSFCompliant(
                        issuer="edr-" + tag, jwks_url=t.jwks_url("jwks" + tag)
                    ),
                ),
            )
        )
        self.assertEqual(moved.settings.issuer, "edr-" + tag)

        off, _ = ok(await c.deactivate_security_events_provider_instance(by_wk.id))
        self.assertEqual(off.status, "INACTIVE")
        self.assertIsNotNone(off.links.activate)
        self.assertIsNone(off.links.deactivate)
        got, _ = ok(await c.get_security_events_provider_instance(by_wk.id))
        self.assertEqual(got.status, "INACTIVE")
        on, _ = ok(await c.activate_security_events_provider_instance(by_wk.id))
        self.assertEqual(on.status, "ACTIVE")

        for pid in (by_wk.id, by_jwks.id):
            data, resp, err = await c.delete_security_events_provider_instance(pid)
            self.assertIsNone(err)
            self.assertIsNone(data)
            self.assertEqual(resp.status_code, 204)
        listed, _ = ok(await c.list_security_events_provider_instances())
        self.assertFalse({by_wk.id, by_jwks.id} & {p.id for p in listed})

        err = api_error(await c.get_security_events_provider_instance(by_wk.id))
        self.assertEqual(err.status, 404)
        self.assertEqual(err.error_code, "E0000007")

    async def test_provider_errors(self):
        c = self.client()
        t = self.transmitter
        tag = uuid.uuid4().hex[:8]

        err = api_error(
            await c.create_security_events_provider_instance(
                provider_request(
                    "Broken " + tag,
                    models.SecurityEventsProviderSettingsNonSSFCompliant(
                        issuer="broken-" + tag, jwks_url=t.base + "/broken-jwks"
                    ),
                )
            )
        )
        self.assertEqual(err.status, 400)
        self.assertEqual(err.error_code, "E0000001")
        self.assertTrue(err.error_summary.startswith("Api validation failed"), err.error_summary)
        self.assertEqual(err.error_link, "E0000001")
        self.assertTrue(err.error_id)
        self.assertEqual(len(err.error_causes), 1, err.error_causes)
        self.assertTrue(
            err.error_causes[0]["errorSummary"].startswith("settings.jwks_url:"),
            err.error_causes,
        )

        err = api_error(
            await c.create_security_events_provider_instance(
                provider_request(
                    "Nowhere " + tag,
                    models.SecurityEventsProviderSettingsSSFCompliant(
                        well_known_url=t.base + "/nothing-here/.well-known/ssf-configuration"
                    ),
                )
            )
        )
        self.assertEqual(err.status, 400)
        self.assertTrue(
            err.error_causes[0]["errorSummary"].startswith("settings.well_known_url:"),
            err.error_causes,
        )

        # Nothing was created.
        listed, _ = ok(await c.list_security_events_provider_instances())
        self.assertFalse([p for p in listed if p.name.endswith(tag)])

        # A token Riskline does not know: 401 E0000011.
        stranger = Client({"orgUrl": self.server.base_url, "token": "not-a-token-" + tag})
        err = api_error(await stranger.list_security_events_provider_instances())
        self.assertEqual(err.status, 401)
        self.assertEqual(err.error_code, "E0000011")

    # -- SSFSecurityEventTokenApi and UserRiskApi ----------------------------

    async def test_security_event_tokens_and_user_risk(self):
        c = self.client()
        t = self.transmitter
        tag = uuid.uuid4().hex[:8]
        ok(
            await c.create_security_events_provider_instance(
                provider_request(
                    "SET " + tag,
                    models.SecurityEventsProviderSettingsSSFCompliant(
                        well_known_url=t.well_known("set" + tag)
                    ),
                )
            )
        )
        email = "set-%s@example.com" % tag
        user = await self.new_user(c, email)

        risk, _ = ok(await c.get_user_risk(user.id))
        self.assertEqual(risk.risk_level, "NONE")

        def claims(level, **extra):
            body = {
                "iss": t.issuer("set" + tag),
                "aud": self.server.base_url,
                "iat": int(time.time()),
                "jti": str(uuid.uuid4()),
                "events": {
                    USER_RISK_CHANGE: {
                        "subject": {"user": {"format": "email", "email": email}},
                        "current_level": level,
                        "previous_level": "low",
                        "event_timestamp": int(time.time()),
                        "reason_admin": {"en": "Malware found " + tag},
                    }
                },
            }
            body.update(extra)
            return body

        data, resp, err = await c.publish_security_event_tokens(t.sign(claims("high")))
        self.assertIsNone(err)
        self.assertIsNone(data)
        self.assertEqual(resp.status_code, 202)

        risk, _ = ok(await c.get_user_risk(user.id))
        self.assertIsInstance(risk, models.UserRiskLevelExists)
        self.assertEqual(risk.risk_level, "HIGH")
        self.assertIn("Malware found " + tag, risk.reason)
        self.assertTrue(risk.links.user.href.endswith("/api/v1/users/" + user.id))

        # A SET for another audience is refused with RFC 8935's error body.
        err = set_error(
            await c.publish_security_event_tokens(
                t.sign(claims("medium", aud="https://someone-else.example.com"))
            )
        )
        self.assertEqual(err["err"], "invalid_audience")
        self.assertIn("someone-else.example.com", err["description"])
        # ... and so is one signed with a key the transmitter does not publish.
        forged = jwt.encode(
            claims("low"), t.other_key, algorithm="RS256",
            headers={"kid": t.kid, "typ": "secevent+jwt"},
        )
        err = set_error(await c.publish_security_event_tokens(forged))
        self.assertEqual(err["err"], "authentication_failed")
        # ... and a token that is no JWS at all.
        err = set_error(await c.publish_security_event_tokens("not-a-token"))
        self.assertEqual(err["err"], "invalid_request")

        risk, _ = ok(await c.get_user_risk(user.id))
        self.assertEqual(risk.risk_level, "HIGH")

        # The receive event is in the System Log.
        events, _ = ok(
            await c.list_log_events(
                filter='eventType eq "security.events.provider.receive_event" and target.id eq "%s"'
                % user.id
            )
        )
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0].outcome.result, "SUCCESS")

        # Upsert: the admin's level replaces the provider's. (The SDK's UserRiskRequest
        # accepts only HIGH and LOW, as Okta's schema for the PUT does.)
        put, resp = ok(await c.upsert_user_risk(user.id, models.UserRiskRequest(risk_level="LOW")))
        self.assertIsInstance(put, models.UserRiskPutResponse)
        self.assertEqual(put.risk_level, "LOW")
        self.assertEqual(resp.status_code, 201)
        risk, _ = ok(await c.get_user_risk(user.id))
        self.assertEqual(risk.risk_level, "LOW")
        put, resp = ok(await c.upsert_user_risk(user.id, models.UserRiskRequest(risk_level="HIGH")))
        self.assertEqual(put.risk_level, "HIGH")
        self.assertEqual(resp.status_code, 200)
        risk, _ = ok(await c.get_user_risk(user.id))
        self.assertEqual(risk.risk_level, "HIGH")
        events, _ = ok(
            await c.list_log_events(
                filter='eventType eq "user.risk.detect" and target.id eq "%s"' % user.id,
                sort_order="DESCENDING",
                limit=1,
            )
        )
        self.assertEqual(events[0].debug_context.debug_data["risk"]["level"], "HIGH")

        err = api_error(await c.get_user_risk("00unobody0000000000"))
        self.assertEqual(err.status, 404)
        self.assertEqual(err.error_code, "E0000007")

    # -- SystemLogApi --------------------------------------------------------

    async def test_system_log(self):
        c = self.client()
        tag = uuid.uuid4().hex[:8]
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        groups = []
        for i in range(5):
            group, _ = ok(
                await c.add_group(
                    models.AddGroupRequest(
                        profile=models.OktaUserGroupProfile(name="log-%s-%d" % (tag, i))
                    )
                )
            )
            groups.append(group)
        end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        ids = [g.id for g in groups]
        filter_ = 'target.id sw "00g" and (%s)' % " or ".join(
            'target.id eq "%s"' % gid for gid in ids
        )

        events, resp = ok(
            await c.list_log_events(since=iso(start), until=iso(end), filter=filter_, limit=100)
        )
        self.assertEqual(len(events), 5)
        self.assertTrue(all(isinstance(e, models.LogEvent) for e in events))
        self.assertEqual([e.target[0].id for e in events], ids)
        self.assertEqual({e.event_type for e in events}, {events[0].event_type})
        self.assertTrue(all(e.outcome.result == "SUCCESS" for e in events))
        self.assertTrue(all(isinstance(e.published, dt.datetime) for e in events))
        self.assertTrue(all(e.actor.type for e in events))
        self.assertEqual(events[2].target[0].display_name, "log-%s-2" % tag)
        # A bounded query that fits in one page has no next link.
        self.assertFalse(PaginationHelper.has_next_page(resp.headers))

        # Keyword search: q matches the target's name (hyphenated values by part).
        events, _ = ok(await c.list_log_events(q="log-%s-3" % tag, since=iso(start)))
        self.assertEqual([e.target[0].id for e in events], [ids[3]])

        desc, _ = ok(
            await c.list_log_events(
                since=iso(start), until=iso(end), filter=filter_, sort_order="DESCENDING"
            )
        )
        self.assertEqual([e.target[0].id for e in desc], list(reversed(ids)))

        # Pages of two through the Link headers' `after` cursor.
        # The SDK's documented `resp.has_next()` / `resp.next()` do not exist in 3.x: calls
        # return a pydantic ApiResponse without them (okta/okta-sdk-python#478, against Okta
        # too). Its own PaginationHelper reads the `after` of the `next` link from the
        # headers, and the next page is asked for with it.
        pages = []
        events, resp = ok(
            await c.list_log_events(since=iso(start), until=iso(end), filter=filter_, limit=2)
        )
        pages.append([e.target[0].id for e in events])
        while PaginationHelper.has_next_page(resp.headers):
            cursor = PaginationHelper.extract_next_cursor(resp.headers)
            self.assertTrue(cursor)
            events, resp = ok(
                await c.list_log_events(after=cursor, until=iso(end), filter=filter_, limit=2)
            )
            pages.append([e.target[0].id for e in events])
            self.assertLess(len(pages), 10, "pagination does not end")
        self.assertEqual(pages, [ids[0:2], ids[2:4], ids[4:5]])

        # Descending pages.
        pages = []
        events, resp = ok(
            await c.list_log_events(
                since=iso(start), until=iso(end), filter=filter_, limit=3, sort_order="DESCENDING"
            )
        )
        pages.append([e.target[0].id for e in events])
        while PaginationHelper.has_next_page(resp.headers):
            events, resp = ok(
                await c.list_log_events(
                    after=PaginationHelper.extract_next_cursor(resp.headers),
                    until=iso(end),
                    filter=filter_,
                    limit=3,
                    sort_order="DESCENDING",
                )
            )
            pages.append([e.target[0].id for e in events])
            self.assertLess(len(pages), 10, "pagination does not end")
        self.assertEqual(pages, [ids[4:1:-1], ids[1::-1]])

        # Polling (no until): there is always a next link, even after the last event.
        events, resp = ok(await c.list_log_events(since=iso(start), filter=filter_, limit=5))
        self.assertEqual(len(events), 5)
        self.assertTrue(PaginationHelper.has_next_page(resp.headers))
        events, resp = ok(
            await c.list_log_events(
                after=PaginationHelper.extract_next_cursor(resp.headers), filter=filter_, limit=5
            )
        )
        self.assertEqual(events, [])
        self.assertTrue(PaginationHelper.has_next_page(resp.headers))

        # A bad filter is Okta's E0000053, a bad date E0000001.
        err = api_error(await c.list_log_events(filter='eventType eq "x" and'))
        self.assertEqual(err.status, 400)
        self.assertEqual(err.error_code, "E0000053")
        err = api_error(await c.list_log_events(since="yesterday"))
        self.assertEqual(err.status, 400)
        self.assertEqual(err.error_code, "E0000001")

    # -- PolicyApi (the Entity Risk Policy) ----------------------------------

    async def test_entity_risk_policy_rules(self):
        c = self.client()
        tag = uuid.uuid4().hex[:8]
        policies, _ = ok(await c.list_policies(type="ENTITY_RISK"))
        self.assertEqual([p.id for p in policies], [POLICY_ID])
        self.assertIsInstance(policies[0], models.EntityRiskPolicy)

        rules, _ = ok(await c.list_policy_rules(POLICY_ID))
        catch_all = [r for r in rules if r.system]
        self.assertEqual(len(catch_all), 1)
        catch_all = catch_all[0]
        self.assertIsInstance(catch_all, models.EntityRiskPolicyRule)
        self.assertEqual(catch_all.name, "Catch-all rule")
        self.assertEqual(catch_all.priority, 99)
        self.assertIsNone(catch_all.conditions)

        group, _ = ok(
            await c.add_group(
                models.AddGroupRequest(profile=models.OktaUserGroupProfile(name="rule-" + tag))
            )
        )
        rule = models.EntityRiskPolicyRule(
            name="High risk " + tag,
            type="ENTITY_RISK",
            priority=1,
            conditions=models.EntityRiskPolicyRuleConditions(
                entity_risk=models.EntityRiskScorePolicyRuleCondition(level="HIGH"),
                risk_detection_types=models.RiskDetectionTypesPolicyRuleCondition(
                    include=["SECURITY_EVENTS_PROVIDER_REPORTED_RISK"], exclude=[]
                ),
                people=models.PolicyPeopleCondition(
                    groups=models.GroupCondition(include=[group.id], exclude=[]),
                    users=models.UserCondition(include=[], exclude=[]),
                ),
            ),
            actions=models.EntityRiskPolicyRuleAllOfActions(
                entity_risk=models.EntityRiskPolicyRuleAllOfActionsEntityRisk(
                    actions=[models.EntityRiskPolicyRuleActionsObject(action="TERMINATE_ALL_SESSIONS")]
                )
            ),
        )
        created, _ = ok(await c.create_policy_rule(POLICY_ID, rule))
        self.assertIsInstance(created, models.EntityRiskPolicyRule)
        self.assertTrue(created.id)
        self.assertEqual(created.name, "High risk " + tag)
        self.assertEqual(created.status, "ACTIVE")
        self.assertEqual(created.priority, 1)
        self.assertFalse(created.system)
        self.assertEqual(created.conditions.entity_risk.level, "HIGH")
        self.assertEqual(created.conditions.people.groups.include, [group.id])
        self.assertEqual(
            [d.value if hasattr(d, "value") else d for d in created.conditions.risk_detection_types.include],
            ["SECURITY_EVENTS_PROVIDER_REPORTED_RISK"],
        )
        self.assertEqual(
            [a.action for a in created.actions.entity_risk.actions], ["TERMINATE_ALL_SESSIONS"]
        )

        # Replace, sending the GET model back with changes.
        got, _ = ok(await c.get_policy_rule(POLICY_ID, created.id))
        self.assertEqual(got.to_dict(), created.to_dict())
        got.name = "Medium risk " + tag
        got.conditions.entity_risk.level = "MEDIUM"
        got.actions.entity_risk.actions = []
        replaced, _ = ok(await c.replace_policy_rule(POLICY_ID, created.id, got))
        self.assertEqual(replaced.id, created.id)
        self.assertEqual(replaced.name, "Medium risk " + tag)
        self.assertEqual(replaced.conditions.entity_risk.level, "MEDIUM")
        self.assertEqual(replaced.actions.entity_risk.actions, [])
        self.assertEqual(replaced.status, "ACTIVE")

        data, resp, err = await c.deactivate_policy_rule(POLICY_ID, created.id)
        self.assertIsNone(err)
        self.assertEqual(resp.status_code, 204)
        got, _ = ok(await c.get_policy_rule(POLICY_ID, created.id))
        self.assertEqual(got.status, "INACTIVE")
        data, resp, err = await c.activate_policy_rule(POLICY_ID, created.id)
        self.assertIsNone(err)
        got, _ = ok(await c.get_policy_rule(POLICY_ID, created.id))
        self.assertEqual(got.status, "ACTIVE")

        # Created inactive.
        second = models.EntityRiskPolicyRule(
            name="Any risk " + tag,
            type="ENTITY_RISK",
            conditions=models.EntityRiskPolicyRuleConditions(
                entity_risk=models.EntityRiskScorePolicyRuleCondition(level="ANY")
            ),
            actions=models.EntityRiskPolicyRuleAllOfActions(
                entity_risk=models.EntityRiskPolicyRuleAllOfActionsEntityRisk(actions=[])
            ),
        )
        second, _ = ok(await c.create_policy_rule(POLICY_ID, second, activate=False))
        self.assertEqual(second.status, "INACTIVE")
        rules, _ = ok(await c.list_policy_rules(POLICY_ID))
        names = [r.name for r in rules]
        self.assertEqual(names[-1], "Catch-all rule")
        self.assertLess(names.index("Medium risk " + tag), names.index("Any risk " + tag))

        # The Catch-all rule: its action may change, it cannot be deactivated or deleted.
        catch_all.actions = models.EntityRiskPolicyRuleAllOfActions(
            entity_risk=models.EntityRiskPolicyRuleAllOfActionsEntityRisk(
                actions=[models.EntityRiskPolicyRuleActionsObject(action="TERMINATE_ALL_SESSIONS")]
            )
        )
        changed, _ = ok(await c.replace_policy_rule(POLICY_ID, catch_all.id, catch_all))
        self.assertEqual(
            [a.action for a in changed.actions.entity_risk.actions], ["TERMINATE_ALL_SESSIONS"]
        )
        self.assertEqual(changed.priority, 99)
        catch_all.actions.entity_risk.actions = []
        changed, _ = ok(await c.replace_policy_rule(POLICY_ID, catch_all.id, catch_all))
        self.assertEqual(changed.actions.entity_risk.actions, [])
        err = api_error(await c.deactivate_policy_rule(POLICY_ID, catch_all.id))
        self.assertEqual(err.status, 400)
        self.assertEqual(err.error_code, "E0000001")
        err = api_error(await c.delete_policy_rule(POLICY_ID, catch_all.id))
        self.assertEqual(err.status, 400)

        for rid in (created.id, second.id):
            data, resp, err = await c.delete_policy_rule(POLICY_ID, rid)
            self.assertIsNone(err)
            self.assertEqual(resp.status_code, 204)
        err = api_error(await c.get_policy_rule(POLICY_ID, created.id))
        self.assertEqual(err.status, 404)
        rules, _ = ok(await c.list_policy_rules(POLICY_ID))
        self.assertFalse({created.id, second.id} & {r.id for r in rules})

    # -- UserApi and GroupApi ------------------------------------------------

    async def test_users_and_groups(self):
        c = self.client()
        tag = uuid.uuid4().hex[:8]
        login = "dir-%s@example.com" % tag
        user = await self.new_user(c, login)
        self.assertIsInstance(user, models.User)
        self.assertTrue(user.id)
        self.assertEqual(user.profile.login, login)
        self.assertEqual(user.profile.email, login)
        self.assertEqual(user.profile.first_name, "Ana")
        self.assertEqual(user.status, "ACTIVE")

        got, _ = ok(await c.get_user(user.id))
        self.assertEqual(got.id, user.id)
        self.assertEqual(got.profile.last_name, "Lee")

        found, _ = ok(await c.list_users(q="dir-" + tag))
        self.assertEqual([u.id for u in found], [user.id])
        found, _ = ok(await c.list_users(search='profile.email eq "%s"' % login))
        self.assertEqual([u.id for u in found], [user.id])

        group, _ = ok(
            await c.add_group(
                models.AddGroupRequest(
                    profile=models.OktaUserGroupProfile(name="Engineering " + tag, description="Eng")
                )
            )
        )
        self.assertIsInstance(group, models.Group)
        self.assertTrue(group.id)
        self.assertEqual(group.profile.actual_instance.name, "Engineering " + tag)

        got, _ = ok(await c.get_group(group.id))
        self.assertEqual(got.id, group.id)
        groups, _ = ok(await c.list_groups(q="Engineering " + tag))
        self.assertEqual([g.id for g in groups], [group.id])

        data, resp, err = await c.assign_user_to_group(group.id, user.id)
        self.assertIsNone(err)
        self.assertEqual(resp.status_code, 204)
        members, _ = ok(await c.list_group_users(group.id))
        self.assertEqual([m.id for m in members], [user.id])
        self.assertEqual(members[0].profile.login, login)

        data, resp, err = await c.unassign_user_from_group(group.id, user.id)
        self.assertIsNone(err)
        members, _ = ok(await c.list_group_users(group.id))
        self.assertEqual(members, [])

        err = api_error(await c.get_user("00unobody0000000000"))
        self.assertEqual(err.status, 404)
        self.assertEqual(err.error_code, "E0000007")


class SqliteTests(OktaSdkCompat, unittest.IsolatedAsyncioTestCase):
    engine = "sqlite"


@unittest.skipUnless(
    os.environ.get("RISKLINE_TEST_POSTGRES_URL"),
    "RISKLINE_TEST_POSTGRES_URL is not set",
)
class PostgresTests(OktaSdkCompat, unittest.IsolatedAsyncioTestCase):
    engine = "postgres"


if __name__ == "__main__":
    unittest.main()
