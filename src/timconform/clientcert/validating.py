"""``timconform proxy``: a validating reverse proxy for live traffic.

Put it between a client and the API (a staging app's region domain, or any emulator): every request
is forwarded unchanged to ``--upstream`` and its answer passed back unchanged, while both are judged
against the request-side client rules (CL-...) and the suite's response checks
(:func:`timconform.oracle.response.run_all`). On SIGINT or SIGTERM the proxy stops and writes the
same report as the suite (results.json, junit.xml, report.html).

UserSigs are verified only when ``TIMCONFORM_SECRET_KEY`` is set (otherwise CL-USERSIG-VALID is a Skip);
``TIMCONFORM_SDKAPPID`` and ``TIMCONFORM_IDENTIFIER``, when set, are the values the requests must carry.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import httpx

from timconform.emulator.control import CONTROL_PREFIX
from timconform import __version__
from timconform import spec as spec_module
from timconform.clientcert.checks import REQUEST_RULES, STREAM_RULES, Checker, Expected
from timconform.clientcert.recording import Journal, Recorded, SigJudge, redact_query, sig_hash
from timconform.clientcert.tlsproxy import HOP_BY_HOP, PlainAnswers, ProxyServer, send_answer
from timconform.oracle import response as response_checks
from timconform.oracle.recorder import Recorder
from timconform.report.model import RunResult
from timconform.report.redact import Redactor
from timconform.target import Reply

PROXY_RULES = (*REQUEST_RULES, *STREAM_RULES)
SKIPPED_BY_PROXY = {
    "CL-USERSIG-VALID": "set TIMCONFORM_SECRET_KEY for the proxy to verify UserSigs",
}


class ProxyConfigError(ValueError):
    """A bad --upstream or --listen: one line, exit code 2."""


def parse_upstream(url: str) -> str:
    """The same check as a run's --target URL (target.base_url): one rule for what a base URL is."""
    from timconform.target import ConfigurationError, base_url

    try:
        return base_url(url)
    except ConfigurationError as exc:
        raise ProxyConfigError(str(exc).replace("--target", "--upstream", 1)) from None


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ProxyConfigError(f"--listen must be HOST:PORT (port 0..65535), not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class ValidatingProxy:
    """Forward, record, judge. ``start()``, send traffic to ``url``, ``stop()``, then ``result()``."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0,
                 env: Mapping[str, str] | None = None, verify: bool | str = True, timeout: float = 30.0) -> None:
        env = os.environ if env is None else env
        self.upstream = parse_upstream(upstream)
        secret = env.get("TIMCONFORM_SECRET_KEY") or None
        sdkappid = env.get("TIMCONFORM_SDKAPPID")
        try:
            expected_sdkappid = int(sdkappid) if sdkappid else None
        except ValueError:
            raise ProxyConfigError(f"TIMCONFORM_SDKAPPID must be an integer, not {sdkappid!r}") from None
        self.expected = Expected(expected_sdkappid, env.get("TIMCONFORM_IDENTIFIER") or None)
        self.judge = SigJudge(secret, sdkappid=expected_sdkappid)
        self.redactor = Redactor(*(s for s in (secret,) if s))
        self.journal = Journal()
        self.started_at = time.time()
        self._http = httpx.Client(verify=verify, timeout=timeout, follow_redirects=False)
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as exc:
            self._http.close()
            raise ProxyConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._server.proxy = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> ValidatingProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="timconform-validating-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http.close()

    def __enter__(self) -> ValidatingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- forwarding -------------------------------------------------------------------------------

    def forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes,
                index: int, started: float) -> Recorded:
        parts = urlsplit(target)
        query, params, sig, bad = redact_query(parts.query.encode("latin-1", "replace"))
        record = Recorded(index=index, started=started, ended=None, wall=time.time(), method=method,
                          path=parts.path, query=query, params=params, body_bytes=body,
                          headers=_joined((k.lower(), v) for k, v in headers), usersig_verdict=self.judge.verdict(sig, params),
                          usersig_hash=sig_hash(sig), usersig_bad_chars=bad, base_url=self.upstream)
        if sig:
            self.redactor.add(sig)
        sent = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP | {"host", "content-length", "accept-encoding"}]
        sent.append(("Accept-Encoding", "identity"))
        try:
            answer = self._http.request(method, self.upstream + target, headers=sent, content=body)
            record.status = answer.status_code
            record.response_headers = {k.lower(): v for k, v in answer.headers.items()}
            record.response_body = answer.content.decode("utf-8", "replace")
            record.response_raw = answer.content
        except httpx.HTTPError as exc:
            record.error = f"the upstream did not answer: {type(exc).__name__}: {exc}"
        record.ended = time.monotonic()
        return self.journal.add(record)

    # -- judging ----------------------------------------------------------------------------------

    def result(self, *, strict: bool = False, listen: str | None = None) -> RunResult:
        spec = spec_module.load()
        wanted = {*PROXY_RULES, *response_checks.ANSWER_RULES}
        rules = [rule_id for rule_id in spec.rules if rule_id in wanted]  # catalogue order
        recorder = Recorder(spec, selected=rules, strict=strict, scope=rules)
        checker = Checker(spec, recorder)
        records = self.journal.records()
        upstream_errors = [r for r in records if r.error]
        for record in records:
            if not record.path.startswith("/v4/"):
                continue
            checker.request(record, self.expected)
            if record.operation != "friend_import" or record.error:
                continue
            reply = Reply(record.exchange(), record.status or 0, record.answer())
            response_checks.run_all(spec, recorder, record.json_body(), reply)
        checker.stream(records)
        if upstream_errors:
            recorder.errored(["FI-HTTP-200"], f"the upstream did not answer {len(upstream_errors)} request(s): "
                                              f"{upstream_errors[0].error}")
        reason = "no request through the proxy exercised this rule" if records else "no request went through the proxy"
        for rule_id in rules:
            recorder.skipped([rule_id], SKIPPED_BY_PROXY.get(rule_id, reason) if not self.judge.secret_key
                             else reason)
        meta = {"suite_version": __version__, "spec_sha256": spec.sha256, "target": self.upstream, "profile": "proxy",
                "strict": strict, "seed": None,
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
                "duration_s": round(time.time() - self.started_at, 3), "requests": len(records),
                "config": {"upstream": self.upstream, "listen": listen or self.url,
                           "sdkappid": self.expected.sdkappid, "identifier": self.expected.identifier,
                           "usersig_verified": bool(self.judge.secret_key)}}
        coverage = {"elicited": {str(c): n for c, n in sorted(recorder.codes_seen.items())},
                    "unknown": {str(c): n for c, n in sorted(recorder.unknown_codes.items())},
                    "operations": _operation_counts(records)}
        return RunResult(meta=meta, rules=recorder.results(), coverage=coverage)


def _operation_counts(records: list[Recorded]) -> dict[str, int]:
    out: dict[str, int] = {}
    for record in records:
        name = record.operation or record.path
        out[name] = out.get(name, 0) + 1
    return dict(sorted(out.items()))


def _joined(pairs) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


_Server = ProxyServer  # the one server class of both proxies (tlsproxy.py)


class _Handler(PlainAnswers, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: the journal of recorded requests is the proxy's log

    def _handle(self) -> None:
        started = time.monotonic()
        proxy = self.server.proxy
        if not self.path.startswith("/"):
            self._refuse(400, "this is a reverse proxy: send origin-form requests (/v4/...), not proxy requests")
            return
        if urlsplit(self.path).path.startswith(CONTROL_PREFIX):  # an emulator's control plane stays its own
            self._refuse(403, "timconform proxy never forwards an emulator's control plane (/_timconform/)")
            return
        body = self._read_body()
        if body is None:
            return
        index = proxy.journal.reserve()
        record = proxy.forward(self.command, self.path, list(self.headers.items()), body, index, started)
        if record.error is not None:
            self._refuse(502, "timconform proxy: the upstream did not answer")
            return
        payload = record.response_raw
        send_answer(self, record.status or 502, record.response_headers.items(), payload,
                    skip={"content-encoding", "date", "server"})

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle  # noqa: N815

