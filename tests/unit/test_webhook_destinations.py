"""Where a webhook may be delivered, decided without connecting anywhere."""
import pytest

from services.notifications.destinations import AllowList, Refused, Unresolved, address_refusal, checked_target

NOTHING_LISTED = AllowList()


@pytest.mark.parametrize("address, why", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("10.0.0.5", "private"), ("172.16.3.4", "private"),
    ("192.168.1.1", "private"), ("169.254.169.254", "metadata"), ("169.254.10.1", "link-local"),
    ("100.100.100.200", "metadata"), ("192.0.0.192", "metadata"), ("168.63.129.16", "metadata"),
    ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"), ("100.64.0.1", "non-public"),
    ("192.0.0.8", ""), ("240.0.0.1", ""), ("255.255.255.255", ""),  # named differently by Python versions
])
def test_inside_ipv4_addresses_are_refused(address, why):
    refusal = address_refusal(address)
    assert refusal is not None and why in refusal


@pytest.mark.parametrize("address, why", [
    ("::1", "loopback"), ("fe80::1", "link-local"), ("fd00:ec2::254", "metadata"), ("fd12:3456::1", "unique-local"),
    ("fc00::1", "unique-local"), ("::", "unspecified"), ("ff02::1", "multicast"), ("fec0::1", "non-public"),
])
def test_inside_ipv6_addresses_are_refused(address, why):
    assert why in (address_refusal(address) or "")


@pytest.mark.parametrize("address, why", [
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.1.2.3", "private"), ("::ffff:169.254.169.254", "metadata"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
])
def test_ipv4_carried_in_ipv6_is_judged_as_the_ipv4_address(address, why):
    assert why in (address_refusal(address) or "")


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(address) is None


def test_the_allow_list_names_hosts_and_addresses():
    allowed = AllowList.parse(" 127.0.0.1, Hooks.Example.ORG., [::1] ,, 10.0.0.5")
    assert allowed.lists_host("127.0.0.1") and allowed.lists_host("hooks.example.org")
    assert allowed.lists_host("HOOKS.example.org.") and allowed.lists_host("::1") and allowed.lists_host("0:0::1")
    assert not allowed.lists_host("127.0.0.2") and not allowed.lists_host("example.org")
    assert address_refusal("127.0.0.1", allowed) is None and address_refusal("::ffff:127.0.0.1", allowed) is None
    assert address_refusal("10.0.0.5", allowed) is None and address_refusal("10.0.0.6", allowed) is not None
    assert AllowList.parse("") == AllowList()


def never_resolve(host, port):
    raise AssertionError(f"{host} was looked up")


def resolves_to(*addresses):
    import ipaddress
    return lambda host, port: [ipaddress.ip_address(a) for a in addresses]


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/", "https://10.0.0.5/", "https://169.254.169.254/latest/meta-data/", "https://[::1]/",
    "https://[::ffff:127.0.0.1]:8443/", "https://localhost/", "https://LOCALHOST./", "https://api.localhost/",
    "https://metadata.google.internal/computeMetadata/v1/", "https://anything.internal/",
    "http://example.org/hook", "ftp://example.org/", "file:///etc/passwd", "gopher://example.org/",
    "https://user:pass@example.org/", "https://user@example.org/", "https://example.org:notaport/",
    "https:///nohost",
])
def test_urls_that_would_reach_inside_are_refused_before_any_lookup(url):
    with pytest.raises(Refused):
        checked_target(url, NOTHING_LISTED, resolve=never_resolve)


def test_a_name_is_judged_by_every_address_it_resolves_to():
    with pytest.raises(Refused, match="resolves to a private"):
        checked_target("https://hooks.example.org/", NOTHING_LISTED, resolve=resolves_to("93.184.216.34", "10.1.1.1"))
    target = checked_target("https://hooks.example.org:8443/in?x=1#frag", NOTHING_LISTED,
                            resolve=resolves_to("93.184.216.34", "2606:4700::1111"))
    assert (target.scheme, target.host, target.port, target.path) == ("https", "hooks.example.org", 8443, "/in?x=1")
    assert target.addresses == ("93.184.216.34", "2606:4700::1111")  # the delivery connects to these only


def test_a_listed_host_may_use_http_and_reach_inside():
    allowed = AllowList.parse("127.0.0.1,hooks.lan")
    assert checked_target("http://127.0.0.1:9/unused", allowed).addresses == ("127.0.0.1",)
    assert checked_target("http://hooks.lan/", allowed, resolve=resolves_to("192.168.1.9")).host == "hooks.lan"
    with pytest.raises(Refused):
        checked_target("http://127.0.0.2/", allowed)
    with pytest.raises(Refused):
        checked_target("https://localhost/", allowed)  # the address is listed, the name is not


def test_a_name_that_does_not_resolve_is_reported_as_such():
    def unresolvable(host, port):
        raise Unresolved("The host name does not resolve.")
    with pytest.raises(Unresolved):
        checked_target("https://hooks.example.org/", NOTHING_LISTED, resolve=unresolvable)


# --- a delivery connects to the checked address, and TLS is still verified for the name ---------------------

@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS server on 127.0.0.1 with a certificate for hooks.test only; it records Host and SNI."""
    import datetime
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    seen = {"hosts": [], "sni": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["hosts"].append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_context.sni_callback = lambda sock, server_name, ctx: seen["sni"].append(server_name)
    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    yield {"port": server.server_port, "context": client_context, "seen": seen}
    server.shutdown()


def test_a_delivery_connects_to_the_checked_address_and_verifies_the_certificate_for_the_name(tls_receiver):
    import ssl

    from services.notifications.destinations import Target, connection_to
    port = tls_receiver["port"]
    # hooks.test resolves nowhere: the connection goes to the address checked, never to a fresh lookup.
    target = Target("https", "hooks.test", port, "/in", ("127.0.0.1",))
    connection = connection_to(target, 5, context=tls_receiver["context"])
    connection.request("POST", target.path, body=b"{}", headers={"Content-Type": "application/json"})
    assert connection.getresponse().status == 204
    connection.close()
    assert tls_receiver["seen"] == {"hosts": [f"hooks.test:{port}"], "sni": ["hooks.test"]}

    impostor = connection_to(Target("https", "other.test", port, "/in", ("127.0.0.1",)), 5,
                             context=tls_receiver["context"])
    with pytest.raises(ssl.SSLCertVerificationError):
        impostor.request("POST", "/in", body=b"{}")
    impostor.close()


def test_a_delivery_to_an_address_refused_now_is_recorded_and_not_retried(monkeypatch):
    from types import SimpleNamespace

    from services.notifications import webhooks
    from services.notifications.settings import WebhookSettings
    monkeypatch.setattr(webhooks, "_post", lambda *args: pytest.fail("a refused URL was contacted"))
    hook = SimpleNamespace(url="https://169.254.169.254/latest/meta-data/", secret="a-secret-never-shown")
    settings = WebhookSettings(max_attempts=8, first_delay=5.0, timeout=5.0, allowed_hosts=NOTHING_LISTED,
                               resolve_timeout=3.0)
    status_code, error, final = webhooks._attempt(hook, {"body": "{}", "delivery_id": "d"}, settings)
    assert (status_code, final) == (None, True)
    assert error.startswith("refused:") and "metadata" in error and "a-secret-never-shown" not in error
