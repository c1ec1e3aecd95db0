"""The gateway's routes, by what they are about. `base.Gateway` holds what every route uses (the
identity store, the tokens, the proxies to the services, the caller a token stands for); each module
adds the routes of one area; `services.gateway.service.GatewayService` is all of them together."""
