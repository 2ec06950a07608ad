"""The two proxies: the loopback CONNECT proxy (hard-coded hosts, nothing leaves the machine) and the
validating reverse proxy of ``timconform proxy`` (live traffic judged by the same rules). Loopback only."""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from timconform.clientcert.runner import child_env
from timconform.clientcert.tlsproxy import CertificateAuthority, ConnectProxy, api_hosts, probe_refusal
from timconform.clientcert.validating import ValidatingProxy
from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator.config import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY
from timconform.emulator.serve import start_in_thread
from timconform.report.model import Verdict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
ENV = {"TIMCONFORM_SDKAPPID": str(DEMO_SDKAPPID), "TIMCONFORM_IDENTIFIER": DEMO_ADMIN,
       "TIMCONFORM_SECRET_KEY": DEMO_SECRET_KEY}


def _reference_module():
    spec = importlib.util.spec_from_file_location("reference_client", EXAMPLES / "reference_client.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_client", module)
    spec.loader.exec_module(module)
    return module


reference = _reference_module()


@pytest.fixture
def emulator():
    emulator = Emulator(EmulatorConfig())
    for account in ["alice", "bob", *(f"user{n:04d}" for n in range(1, 1301))]:
        emulator.model.account_import(emulator.app_state, account)
    with start_in_thread(emulator) as running:
        yield running


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


def items(n, start=1):
    return [{"To_Account": f"user{k:04d}", "AddSource": "AddSource_Type_Web"} for k in range(start, start + n)]


# -- the CONNECT proxy --------------------------------------------------------------------------------------


def test_the_allow_list_is_openapi_s_servers_on_443(spec):
    hosts = api_hosts(spec)
    assert ("console.tim.qq.com", 443) in hosts and ("adminapisgp.im.qcloud.com", 443) in hosts
    assert ("adminapi.my-imcloud.com", 443) in hosts and len(hosts) == len(spec.servers)


def test_connect_to_anything_but_an_api_domain_on_443_is_refused_without_connecting(ca, spec, emulator):
    witness = socket.socket()
    witness.bind(("127.0.0.1", 0))
    witness.listen(5)
    witness.settimeout(0.3)
    port = witness.getsockname()[1]
    with ConnectProxy(ca, api_hosts(spec), upstream=emulator.base_url) as proxy:
        for target in ("example.com:443", "console.tim.qq.com:80", f"127.0.0.1:{port}", f"localhost:{port}",
                       "console.tim.qq.com.evil.example:443", "CONSOLE.TIM.QQ.COM:8443"):
            assert probe_refusal(proxy.url, target) == 403, target
        # Plain (non-CONNECT) proxy requests are refused too: the API is HTTPS only.
        answer = requests.get("http://console.tim.qq.com/v4/sns/friend_import", proxies={"http": proxy.url},
                              timeout=5)
        assert answer.status_code == 403
        assert proxy.log.snapshot()["allowed"] == []
        assert len(proxy.log.snapshot()["refused"]) == 6
    with pytest.raises(socket.timeout):
        witness.accept()  # nothing ever connected to the CONNECT targets
    witness.close()


def test_the_connect_proxy_forwards_to_loopback_only(ca, spec):
    for upstream in ("http://example.com", "https://127.0.0.1:1", "http://10.0.0.1:80"):
        with pytest.raises(ValueError, match="loopback"):
            ConnectProxy(ca, api_hosts(spec), upstream=upstream)
    with pytest.raises(ValueError, match="loopback"):
        ConnectProxy(ca, api_hosts(spec), host="0.0.0.0")


@pytest.mark.parametrize("host", ["console.tim.qq.com", "adminapisgp.im.qcloud.com"])
def test_tls_is_terminated_with_a_certificate_for_the_connect_host(ca, spec, emulator, host):
    sig = emulator.emulator.usersig()
    with ConnectProxy(ca, api_hosts(spec), upstream=emulator.base_url) as proxy:
        answer = requests.post(f"https://{host}/v4/sns/friend_import",
                               params={"sdkappid": DEMO_SDKAPPID, "identifier": DEMO_ADMIN, "usersig": sig,
                                       "random": 7, "contenttype": "json"},
                               json={"From_Account": "alice", "AddFriendItem": items(2)},
                               proxies={"https": proxy.url}, verify=str(ca.cert_file), timeout=10)
        assert proxy.log.snapshot()["allowed"] == [f"{host}:443"]
    assert answer.status_code == 200 and answer.json()["ActionStatus"] == "OK"
    assert emulator.emulator.app_state.friends["alice"].keys() == {"user0001", "user0002"}


def test_a_client_that_does_not_trust_the_run_s_ca_gets_nothing_through(ca, spec, emulator):
    with ConnectProxy(ca, api_hosts(spec), upstream=emulator.base_url) as proxy:
        with pytest.raises(requests.exceptions.SSLError):
            requests.post("https://console.tim.qq.com/v4/sns/friend_import", proxies={"https": proxy.url},
                          data=b"{}", timeout=10)


# -- the validating reverse proxy ------------------------------------------------------------------------------


def test_the_reference_client_through_the_proxy_shows_no_violation(emulator):
    with ValidatingProxy(emulator.base_url, env=ENV) as proxy:
        client = reference.FriendImportClient(proxy.url, DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY)
        assert client.import_friends("alice", items(1200)).ok
        partial = client.import_friends("bob", items(2) + [{"To_Account": "nobody", "AddSource": "AddSource_Type_X"}])
        assert set(partial.failed) == {"nobody"}
    result = proxy.result()
    bad = {r.rule_id: [e.message for e in r.evidence] for r in result.rules
           if r.verdict not in (Verdict.PASS, Verdict.SKIP)}
    assert bad == {}
    passed = {r.rule_id for r in result.rules if r.verdict == Verdict.PASS}
    assert {"CL-REQUEST-VALID", "CL-QUERY-PARAMS", "CL-USERSIG-VALID", "CL-BATCH-1000", "CL-JSON-CONTENT-TYPE",
            "CL-RANDOM-FRESH", "CL-RATE-200", "CL-NO-RETRY-PERMANENT", "FI-HTTP-200", "FI-ENVELOPE-SHAPE",
            "FI-PARTIAL-SUCCESS", "FI-FAIL-ACCOUNT-CONTENT"} <= passed
    assert result.meta["requests"] == 3 and result.exit_code() == 0
    assert not any(r.rule_id in ("CL-IMPORT-COMPLETE", "CL-REPORT-PARTIAL-FAILURE") for r in result.rules)


def test_timsdk_through_both_proxies_shows_its_request_side_violations(ca, spec, emulator, tmp_path):
    pytest.importorskip("timsdk")
    imports = [{"From_Account": "alice", "AddFriendItem": items(1200)},
               {"From_Account": "bob", "AddFriendItem": items(2)}]
    (tmp_path / "input.json").write_text(json.dumps(imports))
    with ValidatingProxy(emulator.base_url, env=ENV) as validating, \
            ConnectProxy(ca, api_hosts(spec), upstream=validating.url) as connect:
        env = child_env(os.environ, target=validating.url, sdkappid=DEMO_SDKAPPID, identifier=DEMO_ADMIN,
                        secret=DEMO_SECRET_KEY, input_path=tmp_path / "input.json", scenario="proxy",
                        proxy_url=connect.url, ca_file=ca.cert_file)
        done = subprocess.run([sys.executable, str(EXAMPLES / "timsdk_adapter.py")], env=env, timeout=60,
                              capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # timsdk reports success: it never looks at the answers
    result = validating.result()
    got = {r.rule_id: r.verdict for r in result.rules}
    assert got["CL-BATCH-1000"] == Verdict.FAIL
    assert got["CL-RANDOM-FRESH"] == Verdict.WARN and got["CL-JSON-CONTENT-TYPE"] == Verdict.WARN
    for rule in ("CL-REQUEST-VALID", "CL-QUERY-PARAMS", "CL-USERSIG-VALID", "CL-RATE-200", "FI-HTTP-200",
                 "FI-ENVELOPE-SHAPE"):
        assert got[rule] == Verdict.PASS, rule
    assert result.exit_code() == 1
    assert validating.result(strict=True).rules  # grading twice is fine


def test_without_the_secret_key_the_usersig_rule_is_skipped_with_the_reason(emulator):
    with ValidatingProxy(emulator.base_url, env={}) as proxy:
        client = reference.FriendImportClient(proxy.url, DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY)
        assert client.import_friends("alice", items(1)).ok
    usersig_rule = next(r for r in proxy.result().rules if r.rule_id == "CL-USERSIG-VALID")
    assert usersig_rule.verdict == Verdict.SKIP and "TIMCONFORM_SECRET_KEY" in usersig_rule.reason


def test_an_unreachable_upstream_is_an_error_not_a_fail():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ValidatingProxy(f"http://127.0.0.1:{port}", env=ENV, timeout=2) as proxy:
        answer = requests.post(f"{proxy.url}/v4/sns/friend_import?sdkappid=1&identifier=a&usersig=x&random=1"
                               "&contenttype=json", data=b"{}", timeout=10)
    assert answer.status_code == 502
    result = proxy.result()
    assert result.exit_code() in (1, 3)
    assert next(r for r in result.rules if r.rule_id == "FI-HTTP-200").verdict == Verdict.ERROR


# -- timconform proxy on the command line ----------------------------------------------------------------------


def _start_cli_proxy(upstream, report_dir, env=None):
    process = subprocess.Popen([sys.executable, "-m", "timconform.cli", "proxy", "--upstream", upstream,
                                "--listen", "127.0.0.1:0", "--report-dir", str(report_dir)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **ENV, **(env or {})})
    line = process.stdout.readline()
    assert line.startswith("timconform proxy on http://127.0.0.1:"), line + process.stderr.read()
    return process, line.split()[3]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_the_cli_proxy_writes_the_report_on_a_stop_signal(emulator, tmp_path, stop):
    process, url = _start_cli_proxy(emulator.base_url, tmp_path)
    try:
        client = reference.FriendImportClient(url, DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY)
        assert client.import_friends("alice", items(3)).ok
    finally:
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "exit 0" in out
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert document["meta"]["profile"] == "proxy" and document["meta"]["requests"] == 1
    assert {"results.json", "junit.xml", "report.html"} <= {p.name for p in tmp_path.iterdir()}
    text = "".join(p.read_text(encoding="utf-8") for p in tmp_path.iterdir())
    assert DEMO_SECRET_KEY not in text and "usersig=eJ" not in text


def test_the_cli_proxy_exits_1_when_a_client_breaks_a_documented_rule(emulator, tmp_path):
    process, url = _start_cli_proxy(emulator.base_url, tmp_path)
    try:
        sig = emulator.emulator.usersig()
        body = json.dumps({"From_Account": "alice", "AddFriendItem": items(1001)})
        requests.post(f"{url}/v4/sns/friend_import?sdkappid={DEMO_SDKAPPID}&identifier={DEMO_ADMIN}&usersig={sig}"
                      "&random=1&contenttype=json", data=body, timeout=10)
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 1 and "CL-BATCH-1000" in out


@pytest.mark.parametrize("argv, message", [
    (["proxy", "--upstream", "ftp://example.com"], "--upstream 'ftp://example.com': expected http(s)://"),
    (["proxy", "--upstream", "http://127.0.0.1:1", "--listen", "nowhere"], "--listen must be HOST:PORT"),
])
def test_cli_proxy_usage_errors_exit_2(argv, message, capsys):
    from timconform import cli

    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_proxy_does_not_lose_concurrent_requests(emulator):
    with ValidatingProxy(emulator.base_url, env=ENV) as proxy:
        def one(n):
            client = reference.FriendImportClient(proxy.url, DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY)
            assert client.import_friends(f"user{n:04d}", [{"To_Account": "alice",
                                                           "AddSource": "AddSource_Type_Web"}]).ok
        threads = [threading.Thread(target=one, args=(n,)) for n in range(1, 21)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    result = proxy.result()
    assert result.meta["requests"] == 20 and result.exit_code() == 0


def test_the_adapter_environment_cannot_route_around_the_connect_proxy(tmp_path):
    inherited = {"PATH": "/usr/bin", "ALL_PROXY": "socks5://somewhere:1080", "no_proxy": "*", "HTTPS_PROXY": "http://x",
                 "SSL_CERT_FILE": "/etc/ssl/other.pem", "TIMCONFORM_CUSTOM_TAGS": "Tag_SNS_Custom_X",
                 "TIMCONFORM_SECRET_KEY": "the caller's real key"}
    env = child_env(inherited, target="http://127.0.0.1:1", sdkappid=1400000000, identifier="administrator",
                    secret="run-key", input_path=tmp_path / "in.json", scenario="happy",
                    proxy_url="http://127.0.0.1:2", ca_file=tmp_path / "ca.pem")
    assert env["PATH"] == "/usr/bin" and "ALL_PROXY" not in env and "TIMCONFORM_CUSTOM_TAGS" not in env
    assert env["no_proxy"] == env["NO_PROXY"] == "127.0.0.1,localhost,::1"
    assert {env[k] for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")} == {"http://127.0.0.1:2"}
    assert {env[k] for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")} == {str(tmp_path / "ca.pem")}
    assert env["TIMCONFORM_SECRET_KEY"] == "run-key" and env["TIMCONFORM_TARGET"] == "http://127.0.0.1:1"


class LoseFirstAnswer:
    """The first friend_import is applied, but its answer is lost: the front end answers HTTP 502 instead."""

    def __init__(self, app) -> None:
        self.app, self.calls = app, []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.calls.append(scope["path"].rsplit("/", 1)[-1])
        if self.calls.count("friend_import") != 1 or self.calls[-1] != "friend_import":
            return await self.app(scope, receive, send)

        async def swallow(message):
            pass

        await self.app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"Bad Gateway"})


def test_the_reference_client_confirms_with_friend_check_after_an_answer_it_never_got():
    emulator = Emulator(EmulatorConfig())
    for account in ("alice", "user0001", "user0002"):
        emulator.model.account_import(emulator.app_state, account)
    app = LoseFirstAnswer(emulator)
    with start_in_thread(app) as running:
        client = reference.FriendImportClient(running.base_url, DEMO_SDKAPPID, DEMO_ADMIN, DEMO_SECRET_KEY)
        result = client.import_friends("alice", items(2) + [{"To_Account": "ghost", "AddSource": "AddSource_Type_Web"}])
    # The retry gets 30001 (already friends) for the two the lost attempt imported; friend_check confirms them.
    assert sorted(result.imported) == ["user0001", "user0002"] and set(result.failed) == {"ghost"}
    assert app.calls == ["friend_import", "friend_import", "friend_check"]


def test_the_validating_proxy_never_forwards_the_control_plane(emulator) -> None:
    """An emulator's /_timconform/ stays its own: the proxy answers 403 and sends nothing upstream."""
    with ValidatingProxy(emulator.base_url, env={}) as proxy:
        response = requests.get(f"{proxy.url}/_timconform/state", timeout=5)
        assert response.status_code == 403 and "never forwards" in response.text
    assert proxy.result().meta["requests"] == 0  # no request was recorded, so none was forwarded


def test_the_run_ca_is_name_constrained_to_the_api_domains_and_loopback(ca) -> None:
    """A CA a client trusts for one run can vouch for no other site: critical name constraints, and no leaf for
    a host outside them."""
    import ssl

    from cryptography import x509

    from timconform import spec as spec_module
    from timconform.clientcert.tlsproxy import api_hosts

    certificate = x509.load_pem_x509_certificate(ca.cert_file.read_bytes())
    constraints = certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    names = {n.value for n in constraints.value.permitted_subtrees if isinstance(n, x509.DNSName)}
    assert names == {host for host, _ in api_hosts(spec_module.load())}
    assert ca.server_context("console.tim.qq.com") is not None and ca.server_context("127.0.0.1") is not None
    with pytest.raises(ssl.SSLError):
        ca.server_context("example.com")
    assert list(ca.directory.iterdir()) == [ca.cert_file]  # no leaf key outlives the context that loaded it
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.days <= 3  # the run's validity, not trustme's default of centuries


def _raw_exchange(url: str, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send bytes as they are to a proxy and read until it closes (or the timeout)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize("framing", [
    b"Transfer-Encoding: chunked\r\n\r\n-1\r\n" + b"x" * 1000,
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_a_malformed_chunk_size_is_refused_and_nothing_is_forwarded(emulator, framing) -> None:
    """A chunk size of -1 once read the rest of the stream, past the 64 MiB cap; h11 refuses it outright."""
    with ValidatingProxy(emulator.base_url, env={}) as proxy:
        answer = _raw_exchange(proxy.url, b"POST /v4/sns/friend_import HTTP/1.1\r\nHost: x\r\n" + framing)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert proxy.result().meta["requests"] == 0


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_the_body_cap_holds_for_every_framing(emulator, framing) -> None:
    from timconform.clientcert.proxyserver import ProxyServer

    with ValidatingProxy(emulator.base_url, env={}) as proxy:
        proxy._server.max_body = 1000
        head = b"POST /v4/sns/friend_import HTTP/1.1\r\nHost: x\r\n"
        if framing == "content-length":  # a declared length over the cap is refused before a byte is read
            answer = _raw_exchange(proxy.url, head + b"Content-Length: 5000\r\n\r\n")
        else:  # chunks are counted as they come: the cap is crossed in the second one
            answer = _raw_exchange(proxy.url, head + b"Transfer-Encoding: chunked\r\n\r\n"
                                   + b"2ee\r\n" + b"x" * 750 + b"\r\n" + b"2ee\r\n" + b"x" * 750 + b"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]
    assert proxy.result().meta["requests"] == 0
    assert isinstance(proxy._server, ProxyServer)


def test_both_proxies_share_one_asyncio_server_with_a_real_backlog(ca, spec, emulator) -> None:
    from timconform.clientcert.proxyserver import BACKLOG, ProxyServer

    with ValidatingProxy(emulator.base_url, env={}) as validating, \
            ConnectProxy(ca, api_hosts(spec), upstream=emulator.base_url) as connect:
        assert type(validating._server) is type(connect._server) is ProxyServer
    assert BACKLOG >= 1024


def test_a_client_that_resets_its_connection_is_no_traceback(emulator, capfd) -> None:
    import struct

    with ValidatingProxy(emulator.base_url, env={}) as proxy:
        for _ in range(20):
            sock = socket.create_connection(proxy._server.server_address)
            sock.sendall(b"POST /v4/sns/friend_import HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST, half-way through the body
        assert requests.get(f"{proxy.url}/v4/sns/friend_check", timeout=5).status_code == 200
    assert "Traceback" not in capfd.readouterr().err


def test_a_slow_client_is_closed_by_the_proxy_within_its_request_timeout(emulator) -> None:
    import time

    with ValidatingProxy(emulator.base_url, env={}) as proxy:
        proxy._server.request_timeout = 0.5
        slow = [socket.create_connection(proxy._server.server_address) for _ in range(50)]
        for sock in slow:
            sock.sendall(b"POST /v4/sns/friend_import HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        began = time.monotonic()
        for sock in slow:
            sock.settimeout(5)
            assert sock.recv(100) == b""  # closed by the proxy, without an answer
            sock.close()
        assert time.monotonic() - began < 3
        assert requests.get(f"{proxy.url}/v4/sns/friend_check", timeout=5).status_code == 200


def test_the_validating_proxy_holds_at_most_one_segment_however_long_it_runs(emulator) -> None:
    """Per-request rules are judged as each answer comes; stream rules per segment, which is then dropped."""
    sig = emulator.emulator.usersig()
    url = "/v4/sns/friend_import?sdkappid={}&identifier={}&usersig={}&random={}&contenttype=json"
    with ValidatingProxy(emulator.base_url, env=ENV, segment=10) as proxy, requests.Session() as session:
        held = []
        for n in range(35):
            session.post(proxy.url + url.format(DEMO_SDKAPPID, DEMO_ADMIN, sig, n if n != 33 else 31),
                         json={"From_Account": "alice", "AddFriendItem": items(1, start=n + 1)}, timeout=10)
            proxy._judging.submit(lambda: held.append(len(proxy.segment))).result()
    assert max(held) < 10 and held[9] == 0  # the tenth request closed the first segment
    result = proxy.result()
    got = {r.rule_id: r for r in result.rules}
    assert result.meta["requests"] == 35 and got["CL-BATCH-1000"].checks == 35
    assert got["CL-RANDOM-FRESH"].checks == 4  # four segments: 10, 10, 10 and 5
    assert got["CL-RANDOM-FRESH"].verdict == Verdict.WARN  # random 31 twice within the last segment
    assert "random=31" in got["CL-RANDOM-FRESH"].evidence[0].message
