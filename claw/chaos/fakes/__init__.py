"""Fake external services for `claw chaos` (and the test suite): real HTTP servers on 127.0.0.1.

- `loopback`: the threaded server every fake is built on
- `anthropic`: the Anthropic Messages API protocol, streaming included, and its failure modes
- `model`: the chaos run's scripted model on top of it
- `bridge`: a WhatsApp bridge whose send endpoint can be taken down
"""
