"""The one way a chaos run fails without figures: the harness could not run it."""


class ChaosError(RuntimeError):
    """The stack did not start, or a fault could not be applied: nothing was measured."""
