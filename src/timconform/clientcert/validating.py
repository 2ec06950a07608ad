"""``timconform proxy``: a validating reverse proxy for live traffic.

Put it between a client and the API (a staging app's region domain, or any emulator): every request
is forwarded unchanged to ``--upstream`` and its answer passed back unchanged, while both are judged
against the request-side client rules (CL-...) and the suite's response checks
(:func:`timconform.oracle.response.run_all`). On SIGINT or SIGTERM the proxy stops and writes the
same report as the suite (results.json, junit.xml, report.html).

UserSigs are verified only when ``TIMCONFORM_SECRET_KEY`` is set (otherwise CL-USERSIG-VALID is a Skip);
``TIMCONFORM_SDKAPPID`` and ``TIMCONFORM_IDENTIFIER``, when set, are the values the requests must carry.

A proxy may run for days, so nothing grows with its traffic: each request is judged by the per-request rules
as soon as it is answered (in a worker thread, off the serving loop), and the rules about a client's stream of
requests (a fresh random, the rate, retries) are judged over consecutive segments of at most ``segment``
requests (default 1,000) and ``SEGMENT_BYTES`` of bodies; a segment is dropped once judged. A relation that
spans two segments (a repeat of a random 1,000 requests later) is not seen: a verdict missed, never one made up.
"""

from __future__ import annotations

import os
import ssl
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

from timconform import __version__
from timconform import spec as spec_module
from timconform.clientcert.checks import REQUEST_RULES, STREAM_RULES, Checker, Expected
from timconform.clientcert.proxyserver import Answer, Handler, ProxyServer, Request, UpstreamFailed, plain, relay
from timconform.clientcert.recording import Recorded, SigJudge, redact_query, sig_hash
from timconform.emulator.control import CONTROL_PREFIX
from timconform.oracle import response as response_checks
from timconform.oracle.recorder import Recorder
from timconform.report.model import RunResult, Verdict
from timconform.report.redact import Redactor
from timconform.target import Reply

PROXY_RULES = (*REQUEST_RULES, *STREAM_RULES)
SKIPPED_BY_PROXY = {
    "CL-USERSIG-VALID": "set TIMCONFORM_SECRET_KEY for the proxy to verify UserSigs",
}
SEGMENT = 1000
SEGMENT_BYTES = 64 * 1024 * 1024


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
    """Forward, judge, forget. ``start()``, send traffic to ``url``, ``stop()``, then ``result()``."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0,
                 env: Mapping[str, str] | None = None, verify: bool | str = True, timeout: float = 30.0,
                 segment: int = SEGMENT) -> None:
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
        self.started_at = time.time()
        self.spec = spec_module.load()
        wanted = {*PROXY_RULES, *response_checks.ANSWER_RULES}
        self.rules = [rule_id for rule_id in self.spec.rules if rule_id in wanted]  # catalogue order
        self.recorder = Recorder(self.spec, selected=self.rules, scope=self.rules)  # strict is applied at result()
        self.checker = Checker(self.spec, self.recorder)
        self.segment_limit = segment
        self.segment: list[Recorded] = []  # judged per request, waiting for the stream rules
        self._segment_bytes = 0
        self.requests = 0
        self.operations: Counter = Counter()
        self.upstream_errors = 0
        self._judging = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timconform-proxy-judge")
        from timconform.target import ConfigurationError, tls_verify

        try:
            verify = tls_verify(verify)
        except ConfigurationError as exc:
            raise ProxyConfigError(str(exc)) from None
        self._forwarding = _Forwarding(self, verify=verify, timeout=timeout)
        try:
            self._server = ProxyServer(self._forwarding, host, port, name="timconform proxy")
        except OSError as exc:
            raise ProxyConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    @property
    def url(self) -> str:
        host, port = self._server.server_address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> ValidatingProxy:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ValidatingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- forwarding -------------------------------------------------------------------------------

    def record_of(self, request: Request) -> Recorded:
        parts = urlsplit(request.text_target)
        query, params, sig, bad = redact_query(parts.query.encode("latin-1", "replace"))
        if sig:
            self.redactor.add(sig)
        index, self.requests = self.requests, self.requests + 1
        return Recorded(index=index, started=request.started, ended=None, wall=time.time(), method=request.method,
                        path=parts.path, query=query, params=params, body_bytes=request.body,
                        headers=_joined((k.lower(), v) for k, v in request.headers),
                        usersig_verdict=self.judge.verdict(sig, params), usersig_hash=sig_hash(sig),
                        usersig_bad_chars=bad, base_url=self.upstream)

    def answered(self, record: Recorded) -> None:
        """A request forwarded and answered (or not): judged by a worker, in arrival order of answers."""
        record.ended = time.monotonic()
        self._judging.submit(self._judge, record)

    # -- judging ----------------------------------------------------------------------------------

    def _judge(self, record: Recorded) -> None:
        self.operations[record.operation or record.path] += 1
        if record.error:
            self.upstream_errors += 1
            self.recorder.errored(["FI-HTTP-200"], f"the upstream did not answer request #{record.index + 1}: "
                                                   f"{record.error}")
        if not record.path.startswith("/v4/"):
            return
        self.checker.request(record, self.expected)
        if record.operation == "friend_import" and not record.error:
            reply = Reply(record.exchange(), record.status or 0, record.answer())
            response_checks.run_all(self.spec, self.recorder, record.json_body(), reply)
        self.segment.append(record)
        self._segment_bytes += len(record.body_bytes) + len(record.response_raw)
        if len(self.segment) >= self.segment_limit or self._segment_bytes >= SEGMENT_BYTES:
            self._close_segment()

    def _close_segment(self) -> None:
        if self.segment:
            self.checker.stream(sorted(self.segment, key=lambda r: r.index))
        self.segment, self._segment_bytes = [], 0

    def result(self, *, strict: bool = False, listen: str | None = None) -> RunResult:
        """The verdicts so far. The open segment is judged and closed: call it once the traffic is done."""
        self._judging.submit(self._close_segment).result()  # after every answer queued before it
        reason = "no request through the proxy exercised this rule" if self.requests else "no request went through the proxy"
        for rule_id in self.rules:
            self.recorder.skipped([rule_id], SKIPPED_BY_PROXY.get(rule_id, reason) if not self.judge.secret_key
                                  else reason)
        rules = self.recorder.results()
        if strict:  # as Recorder(strict=True) would have judged: an inferred or open rule's Warn is a Fail
            for rule in rules:
                rule.verdict = Verdict.FAIL if rule.verdict == Verdict.WARN else rule.verdict
        meta = {"suite_version": __version__, "spec_sha256": self.spec.sha256, "target": self.upstream,
                "profile": "proxy", "strict": strict, "seed": None,
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
                "duration_s": round(time.time() - self.started_at, 3), "requests": self.requests,
                "config": {"upstream": self.upstream, "listen": listen or self.url,
                           "sdkappid": self.expected.sdkappid, "identifier": self.expected.identifier,
                           "usersig_verified": bool(self.judge.secret_key), "segment": self.segment_limit}}
        coverage = {"elicited": {str(c): n for c, n in sorted(self.recorder.codes_seen.items())},
                    "unknown": {str(c): n for c, n in sorted(self.recorder.unknown_codes.items())},
                    "operations": dict(sorted(self.operations.items()))}
        return RunResult(meta=meta, rules=rules, coverage=coverage)


class _Forwarding(Handler):
    """The reverse proxy: origin-form requests go to the upstream unchanged, answers come back unchanged."""

    def __init__(self, proxy: ValidatingProxy, *, verify: bool | ssl.SSLContext, timeout: float) -> None:
        self.proxy, self.verify, self.timeout = proxy, verify, timeout
        self.http: httpx.AsyncClient | None = None

    async def open(self) -> None:
        self.http = httpx.AsyncClient(verify=self.verify, timeout=self.timeout, follow_redirects=False)
        for name in list(self.http.headers):
            del self.http.headers[name]  # httpx's defaults (User-Agent, Accept...) are not what the client sent

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    def tunnel(self, request: Request) -> Answer:
        return plain(400, "this is a reverse proxy: send origin-form requests (/v4/...), not CONNECT")

    async def handle(self, request: Request) -> Answer:
        if not request.target.startswith(b"/"):
            return plain(400, "this is a reverse proxy: send origin-form requests (/v4/...), not proxy requests")
        if urlsplit(request.text_target).path.startswith(CONTROL_PREFIX):  # an emulator's control plane stays its own
            return plain(403, "timconform proxy never forwards an emulator's control plane (/_timconform/)")
        proxy = self.proxy
        record = proxy.record_of(request)
        # relay() drops the hop-by-hop headers; Host is the upstream's own; the answer is judged, so it must come as
        # it is (identity)
        headers = [(k, v) for k, v in request.headers if k.lower() not in {"host", "accept-encoding"}]
        headers.append(("Accept-Encoding", "identity"))
        assert self.http is not None
        try:
            answer = await relay(self.http, proxy.upstream, request, request.target, headers=headers,
                                 skip={"content-encoding", "date", "server"}, decoded=True)
        except UpstreamFailed as exc:
            record.error = f"the upstream did not answer: {exc}"
            proxy.answered(record)
            return plain(502, "timconform proxy: the upstream did not answer")
        record.status = answer.status
        record.response_headers = {k.lower(): v for k, v in answer.headers}
        record.response_raw = answer.body
        record.response_body = answer.body.decode("utf-8", "replace")
        proxy.answered(record)
        return answer


def _joined(pairs) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out
