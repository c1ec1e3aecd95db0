"""RabbitMQ topology: one durable topic exchange for events, whose routing key is the event type;
another through which a consumer puts a message back into one of its own queues (a retry, a
quarantined event handed back), the routing key naming the queue.

Both are the administrator's (scripts/stack.sh declares them, with nameko's RPC exchange): services
only look them up, so a service's broker user needs no right to configure them and cannot delete
them. Where a deployment gives its services every right, the first one to start declares them."""
import json
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

import amqp.exceptions
from kombu import Connection, Exchange
from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY

from shared.settings import AmqpTls

EXCHANGE = Exchange("casetrail.events", type="topic", durable=True, passive=True)
REQUEUE = Exchange("casetrail.requeue", type="topic", durable=True, passive=True)


def amqp_ssl(amqp_uri: str, tls: AmqpTls | None = None) -> dict | None:
    """TLS for an amqps:// URI, as kombu takes it: the broker's certificate must chain to AMQP_CA_FILE
    (to the system's CAs without it) and name the host in the URI; AMQP_CERT_FILE and AMQP_KEY_FILE
    add a client certificate. None for plain amqp (a loopback-only broker, as `make up` runs).
    A service passes the `tls` it read at start; without it (a tool, a test), they are read now."""
    if urlsplit(amqp_uri).scheme != "amqps":
        return None
    tls = AmqpTls.from_env() if tls is None else tls
    options: dict = {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": urlsplit(amqp_uri).hostname}
    if tls.ca_file:
        options["ca_certs"] = tls.ca_file
    if tls.cert_file:
        options.update(certfile=tls.cert_file, keyfile=tls.key_file or None)
    return options


def use_tls(config: dict, tls: AmqpTls | None = None) -> None:
    """nameko's own connections (RPC, consumers) take their TLS options from its AMQP_SSL config."""
    if config.get(AMQP_SSL_CONFIG_KEY) is None:
        config[AMQP_SSL_CONFIG_KEY] = amqp_ssl(config.get(AMQP_URI_CONFIG_KEY) or "", tls)


def connection(amqp_uri: str, tls: AmqpTls | None = None, **options) -> Connection:
    return Connection(amqp_uri, ssl=amqp_ssl(amqp_uri, tls), **options)


def ensure_exchanges(amqp_uri: str, tls: AmqpTls | None = None) -> None:
    with connection(amqp_uri, tls, connect_timeout=5) as conn:
        for exchange in (EXCHANGE, REQUEUE):
            try:
                exchange(conn.channel()).declare()
            except amqp.exceptions.NotFound:
                Exchange(exchange.name, type=exchange.type, durable=True)(conn.channel()).declare()


def event_publisher(amqp_uri: str, tls: AmqpTls | None = None) -> Publisher:
    """Persistent messages, publisher confirms: publish() returns only once the broker has the message."""
    if not amqp_uri:
        raise RuntimeError("environment variable AMQP_URI is required (the service's own RabbitMQ login)")
    return Publisher(amqp_uri, ssl=amqp_ssl(amqp_uri, tls), exchange=EXCHANGE, declare=[EXCHANGE], use_confirms=True,
                     retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2,
                                               "interval_step": 0.5, "interval_max": 1})


SIGNATURE_HEADER = "x-casetrail-signature"  # the source service's Ed25519 signature over the body


def publish_event(publisher: Publisher, envelope: dict, sign: Callable[[bytes], str]) -> None:
    """The envelope as JSON bytes, with the publishing service's signature over exactly those bytes."""
    body = json.dumps(envelope).encode()
    publisher.publish(body, routing_key=envelope["event_type"], message_id=envelope["event_id"],
                      content_type="application/json", content_encoding="utf-8",
                      headers={SIGNATURE_HEADER: sign(body)})
