"""nameko's RPC entrypoint, made to outlive a broker outage. nameko stops the whole service when
a worker cannot send its reply; here the failure is logged instead. The caller has given up by
then (the gateway answered 503); the request, never acknowledged, goes back to its queue and
expires there, since every call is sent with an expiration."""
import logging

import amqp.exceptions
import kombu.exceptions
from nameko.rpc import Rpc

log = logging.getLogger(__name__)

# What a lost or refused connection to RabbitMQ raises.
BROKER_DOWN = (OSError, kombu.exceptions.KombuError, amqp.exceptions.AMQPError)


class ResilientRpc(Rpc):
    def handle_result(self, message, worker_ctx, result, exc_info):
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except BROKER_DOWN:
            log.warning("%s: could not send the reply (broker unavailable)", self.method_name)
            return result, exc_info


rpc = ResilientRpc.decorator
