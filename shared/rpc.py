"""nameko's RPC, with callers proved (shared/identity.py) and made to outlive a broker outage.

`@rpc(callers=...)` on a service method: its first argument is the caller's signed identity, which
the entrypoint verifies before the method runs and hands it as the caller dict; `callers` names the
services whose signature the method accepts (the gateway alone unless said otherwise).
`SignedRpcProxy("cases", deadline="rpc_timeout")` is the other end: `self.cases.get_case(caller, ...)`
signs `caller` as this service, for that one call, sent to expire after the deadline (a field of the
service's settings, in seconds), which the call also carries for whoever waits on it (`.deadline`).

nameko stops the whole service when a worker cannot send its reply; here the failure is logged
instead. The caller has given up by then (the gateway answered 503); the request, never
acknowledged, goes back to its queue and expires there, since every call is sent with an expiration."""
import inspect
import logging
import sys

import amqp.exceptions
import kombu.exceptions
import kombu.serialization
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY, NON_PERSISTENT
from nameko.exceptions import UnserializableValueError, serialize
from nameko.rpc import Responder, Rpc, RpcProxy, get_rpc_exchange

from shared.caller import Caller
from shared.configured import setting
from shared.identity import CallerCheck, CallerKeys, keys_of
from shared.settings import of_service

log = logging.getLogger(__name__)

# What a lost or refused connection to RabbitMQ raises.
BROKER_DOWN = (OSError, kombu.exceptions.KombuError, amqp.exceptions.AMQPError)

_CHECKS: dict[str, CallerCheck] = {}  # one per service in a process


class ProvedRpc(Rpc):
    def __init__(self, callers: tuple[str, ...] = ("gateway",), **kwargs):
        self.callers = callers
        super().__init__(**kwargs)

    def setup(self) -> None:
        service = self.container.service_name
        if service not in _CHECKS:
            _CHECKS[service] = CallerCheck(keys_of(service, of_service(self.container).caller_keys))
        self.check = _CHECKS[service]
        method = getattr(self.container.service_cls, self.method_name)
        self.takes_issuer = "issuer" in inspect.signature(method).parameters
        super().setup()

    def handle_message(self, body, message):
        """Verifies the caller before the worker starts; a refusal (raised here) is the reply. A method
        with an `issuer` parameter is told which service signed the call (whatever the call says)."""
        args, kwargs = list(body.get("args") or ()), dict(body.get("kwargs") or {})
        if self.takes_issuer:
            kwargs.pop("issuer", None)  # only the verified signer counts
        self.check_signature(args, kwargs)
        if args:
            args[0], issuer = self.check.verify_call(args[0], self.method_name, self.callers)
        else:
            kwargs["caller"], issuer = self.check.verify_call(kwargs.get("caller"), self.method_name, self.callers)
        if self.takes_issuer:
            kwargs["issuer"] = issuer
        return super().handle_message({**body, "args": args, "kwargs": kwargs}, message)

    def handle_result(self, message, worker_ctx, result, exc_info):
        config = self.container.config
        try:
            result, exc_info = Reply(config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config), message,
                                     ssl=config.get(AMQP_SSL_CONFIG_KEY),
                                     login_method=config.get(LOGIN_METHOD_CONFIG_KEY)).send(result, exc_info)
        except BROKER_DOWN:
            log.warning("%s: could not send the reply (broker unavailable)", self.method_name)
            return result, exc_info
        self.rpc_consumer.queue_consumer.ack_message(message)
        return result, exc_info


# Requests and replies are neither persistent nor confirmed (issue 23: each had cost the broker a disk write
# and the sender a round trip): a call is sent to expire after its deadline, and a request or reply the broker
# loses ends, like any unanswered call, in the caller's 503 when the deadline passes; a retry with the same
# Idempotency-Key then has the command's one effect.
RPC_DELIVERY = {"use_confirms": False, "delivery_mode": NON_PERSISTENT}


class Reply(Responder):
    """nameko's reply, serialised once (nameko serialises it twice: a trial, then to send it)."""

    def __init__(self, amqp_uri, exchange, message, ssl=None, login_method=None):
        super().__init__(amqp_uri, exchange, None, message, ssl=ssl, login_method=login_method)

    def send(self, result, exc_info) -> tuple:
        serializer = kombu.serialization.registry.type_to_name[self.message.properties["content_type"]]
        error = serialize(exc_info[1]) if exc_info is not None else None
        try:
            content_type, encoding, body = kombu.serialization.dumps({"result": result, "error": error}, serializer)
        except Exception:  # as nameko: the caller hears the value could not be sent, the service goes on
            exc_info = sys.exc_info()
            content_type, encoding, body = kombu.serialization.dumps(
                {"result": None, "error": serialize(UnserializableValueError(result))}, serializer)
            result = None
        publisher = self.publisher_cls(self.amqp_uri, ssl=self.ssl, login_method=self.login_method, **RPC_DELIVERY)
        publisher.publish(body, content_type=content_type, content_encoding=encoding, exchange=self.exchange,
                          routing_key=self.message.properties["reply_to"],
                          correlation_id=self.message.properties.get("correlation_id"))
        return result, exc_info


rpc = ProvedRpc.decorator


class SignedRpcProxy(RpcProxy):
    """An RpcProxy whose calls carry the caller (their first argument) signed as this service, and
    expire unprocessed after `deadline`: the name of a field of the service's settings (seconds)."""

    def __init__(self, target_service: str, deadline: str, **options):
        self.deadline_setting = deadline
        super().__init__(target_service, **{**RPC_DELIVERY, **options})

    def setup(self) -> None:
        self.keys = keys_of(self.container.service_name, of_service(self.container).caller_keys)
        self.deadline = float(setting(self.container, self.deadline_setting))
        # A request whose caller has given up (503) must not run later: it expires in the queue.
        self.options["expiration"] = self.deadline
        super().setup()

    def get_dependency(self, worker_ctx):
        return _Signing(super().get_dependency(worker_ctx), self.target_service, self.keys, self.deadline)


class _Signing:
    def __init__(self, proxy, target: str, keys: CallerKeys, deadline: float):
        self._proxy, self._target, self._keys, self.deadline = proxy, target, keys, deadline

    def __getattr__(self, method: str) -> "_SignedCall":
        return _SignedCall(getattr(self._proxy, method), self._keys, self._target, method, self.deadline)


class _SignedCall:
    """One remote method; its first argument, the caller, is signed for this one call. It names its
    target service and method (the gateway's metrics read them), and how long it may be waited on."""

    def __init__(self, remote, keys: CallerKeys, service_name: str, method_name: str, deadline: float):
        self.remote, self.keys, self.service_name, self.method_name = remote, keys, service_name, method_name
        self.deadline = deadline

    def __call__(self, caller: Caller, *args, **kwargs):
        return self.remote(self.keys.sign(caller, self.service_name, self.method_name), *args, **kwargs)
