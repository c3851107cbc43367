#!/usr/bin/env python3
"""Property-based API fuzzing driven by the OpenAPI document (schemathesis).

Starts the compiled binary on a free port with a fresh data dir, signs up a customer and a
provider (codes read from the console SMS channel on stdout), creates an admin with the CLI,
seeds a listing and a booking, then runs schemathesis against every operation as anonymous,
customer, provider and admin. Checks: no 5xx, every status, content type and body match the
document. Operations that end the fuzzer's own session (logout, password change, account
deletion) run only anonymously, so a token is not revoked halfway.

    python3 fuzz/api_fuzz.py --binary target/release/buildxpert --seconds 600   # the long run
    python3 fuzz/api_fuzz.py --binary target/debug/buildxpert --seconds 20      # CI's short run
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SESSION_ENDERS = r"^/api/v1/(auth/(logout|logout-all|password/change|sessions/\{id\})|me)$"


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


class Server:
    def __init__(self, binary, data_dir):
        env = dict(os.environ)
        # The fuzzer is one client sending thousands of requests: limits off, long-lived tokens.
        for k in ["API_PER_USER_PER_MINUTE", "LOGIN_PER_IP_PER_MINUTE", "SIGNUP_PER_IP_PER_HOUR",
                  "OTP_PER_PHONE_PER_HOUR", "CONTACT_PER_IP_PER_HOUR", "BOOKINGS_PER_USER_PER_HOUR",
                  "PAYMENTS_PER_USER_PER_HOUR", "CALLS_PER_USER_PER_MINUTE", "MESSAGES_PER_USER_PER_MINUTE",
                  "ADMIN_PER_USER_PER_MINUTE", "CALL_SIGNALS_PER_MINUTE"]:
            env["BUILDXPERT_LIMITS__" + k] = "0"
        env["BUILDXPERT_AUTH__ACCESS_TTL_SECONDS"] = "86400"
        # Long-polls are clamped to this, so a generated `wait=` never outlasts the request timeout.
        env["BUILDXPERT_EVENTS__MAX_WAIT_SECONDS"] = "1"
        env["BUILDXPERT_LOG__LEVEL"] = "warn"
        self.binary, self.data_dir, self.env = binary, data_dir, env
        self.proc = subprocess.Popen([binary, "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        first = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", first)
        if not m:
            raise SystemExit(f"server did not start: {first!r} {self.proc.stderr.read()}")
        self.base = m.group(1)
        self.codes, self.errors = {}, []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            m = re.match(r"\[sms\] to=(\+\d+) (\d{6}) ", line)
            if m:
                self.codes[m.group(1)] = m.group(2)

    def _read_stderr(self):
        for line in self.proc.stderr:
            if " ERROR " in line or "panicked" in line:
                self.errors.append(line.rstrip())

    def code_for(self, phone):
        for _ in range(200):
            if phone in self.codes:
                return self.codes.pop(phone)
            time.sleep(0.02)
        raise SystemExit(f"no code texted to {phone}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def sign_up(srv, role, digits, name):
    phone = "+91" + digits
    st, body = call(srv.base, "POST", "/api/v1/auth/signup",
                    {"fullName": name, "phone": digits, "password": "fuzz-pass-123", "role": role})
    assert st == 202, (st, body)
    st, body = call(srv.base, "POST", "/api/v1/auth/verify", {"phone": digits, "role": role, "code": srv.code_for(phone)})
    assert st == 201, (st, body)
    return body["accessToken"]


def seed(srv):
    customer = sign_up(srv, "customer", "9811111111", "Fuzz Customer")
    provider = sign_up(srv, "provider", "9822222222", "Fuzz Provider")
    out = subprocess.run([srv.binary, "admin", "create", "--data-dir", srv.data_dir, "--phone", "9833333333",
                          "--password", "fuzz-admin-123", "--name", "Fuzz Admin"], env=srv.env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    st, body = call(srv.base, "POST", "/api/v1/auth/login", {"phone": "9833333333", "password": "fuzz-admin-123", "role": "admin"})
    assert st == 200, (st, body)
    admin = body["accessToken"]
    st, cats = call(srv.base, "GET", "/api/v1/categories")
    plumber = next(c for c in cats["items"] if c["slug"] == "plumber")
    st, listing = call(srv.base, "POST", "/api/v1/provider/listings", {
        "categoryId": plumber["id"], "description": "Fuzz plumbing", "experienceYears": 3, "city": "Pune",
        "state": "Maharashtra", "address": "1 Fuzz Road",
        "subServices": [{"id": plumber["subServices"][0]["id"], "price": {"amount": 50000, "currency": "INR"}}]}, provider)
    assert st == 201, (st, listing)
    st, _ = call(srv.base, "PATCH", f"/api/v1/admin/listings/{listing['id']}", {"status": "active"}, admin)
    assert st == 200, st
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
    st, booking = call(srv.base, "POST", "/api/v1/bookings", {
        "listingId": listing["id"], "subServiceIds": [plumber["subServices"][0]["id"]], "date": day, "time": "10:30",
        "address": "2 Fuzz Lane"}, customer)
    assert st == 201, (st, booking)
    return {"customer": customer, "provider": provider, "admin": admin}


def run_schemathesis(base, role, token, seconds, report_dir):
    os.makedirs(report_dir, exist_ok=True)
    # One worker: schemathesis' coverage phase hits a CPython 3.11 ast race with several threads.
    args = [sys.executable, "-m", "schemathesis.cli", "run", base + "/api/v1/openapi.json",
            "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--phases", "examples,coverage,fuzzing", "--max-time", str(max(1, seconds)), "--workers", "1",
            "--warnings", "off", "--suppress-health-check", "all", "--report", "junit", "--report-dir", report_dir]
    if token:
        args += ["-H", f"Authorization: Bearer {token}", "--exclude-path-regex", SESSION_ENDERS]
    started = time.time()
    # schemathesis keeps a cache in its working directory: the run's temp dir, never the repo.
    out = subprocess.run(args, capture_output=True, text=True, cwd=report_dir)
    text = out.stdout + out.stderr
    m = re.search(r"(\d+) generated, (.*)", text)
    summary = m.group(0) if m else "no summary"
    return out.returncode, summary, text, time.time() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/buildxpert")
    ap.add_argument("--seconds", type=int, default=120, help="time budget per role")
    ap.add_argument("--roles", default="anonymous,customer,provider,admin")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bx-fuzz-") as tmp:
        srv = Server(os.path.abspath(args.binary), os.path.join(tmp, "data"))
        failed = False
        try:
            tokens = seed(srv)
            tokens["anonymous"] = None
            print(f"{'role':<10} {'seconds':>7}  result")
            for role in args.roles.split(","):
                rc, summary, text, secs = run_schemathesis(srv.base, role, tokens[role], args.seconds, os.path.join(tmp, role))
                print(f"{role:<10} {secs:7.1f}  {summary}")
                if rc != 0:
                    failed = True
                    print(text[-6000:])
            if srv.errors:
                failed = True
                print("server logged errors:\n" + "\n".join(srv.errors[:20]))
        finally:
            srv.stop()
        sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
