"""What a turn cost: tokens times the model's price (USD per million tokens).

Built-in prices for Claude models, matched by the longest model-name prefix; CLAW_PRICES
(JSON ``{"model-prefix": [input, output, cache_read, cache_write]}``) adds or overrides, e.g.
for a local OpenAI-compatible model whose price is zero or your provider's.
"""

from __future__ import annotations

import json
import math

from claw.agent.base import TokenUsage

Price = tuple[float, float, float, float]  # input, output, cache read, cache write per MTok

BUILT_IN_PRICES: dict[str, Price] = {
    "claude-opus-4-5": (5.0, 25.0, 0.50, 6.25),
    "claude-opus-4": (15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-4": (3.0, 15.0, 0.30, 3.75),
    "claude-3-7-sonnet": (3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4-5": (1.0, 5.0, 0.10, 1.25),
    "claude-3-5-haiku": (0.80, 4.0, 0.08, 1.0),
    "offline": (0.0, 0.0, 0.0, 0.0),
}


class PriceTableError(ValueError):
    pass


def price_table(overrides_json: str | None) -> dict[str, Price]:
    """The built-in prices with CLAW_PRICES over them; Settings calls it once when it loads, so a
    malformed value is refused there rather than in every turn's commit."""
    table = dict(BUILT_IN_PRICES)
    if overrides_json:
        try:
            overrides = json.loads(overrides_json)
            for model, numbers in overrides.items():
                # a list of four prices: not a string ("1234" iterates), no bool, NaN or negative
                if not isinstance(numbers, list) or any(isinstance(n, bool) for n in numbers):
                    raise TypeError
                table[model] = tuple(float(n) for n in numbers)  # type: ignore[assignment]
                if len(table[model]) != 4 or not all(math.isfinite(n) and n >= 0 for n in table[model]):
                    raise ValueError
        except (ValueError, TypeError, AttributeError) as exc:
            raise PriceTableError(
                'CLAW_PRICES must be JSON like {"my-model": [input, output, cache_read, cache_write]}'
                " in USD per million tokens"
            ) from exc
    return table


def cost_usd(usage: TokenUsage, table: dict[str, Price]) -> float:
    """0.0 for a model with no known price (it is still counted in tokens)."""
    matches = [prefix for prefix in table if usage.model.startswith(prefix)]
    if not matches:
        return 0.0
    p_in, p_out, p_read, p_write = table[max(matches, key=len)]
    return (
        usage.input_tokens * p_in
        + usage.output_tokens * p_out
        + usage.cache_read_tokens * p_read
        + usage.cache_write_tokens * p_write
    ) / 1_000_000
