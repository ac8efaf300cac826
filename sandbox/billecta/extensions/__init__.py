"""The Billecta sandbox's domains as extensions: each module's ``register(host)`` adds its state part and its
routes through the extension API (``sandbox.billecta.extension.Host``); ``sandbox.billecta.app`` lists them in
the order they are registered."""
