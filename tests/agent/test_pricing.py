"""claw.agent.pricing and CLAW_PRICES: what a turn cost, as /metrics and `claw usage` show it.

Built-in prices per million tokens, matched by the longest model-name prefix; CLAW_PRICES adds
models or overrides prices; a malformed CLAW_PRICES is a clear error, never a silent zero.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from claw.agent import AgentReply
from claw.agent.base import TokenUsage
from claw.agent.pricing import BUILT_IN_PRICES, PriceTableError, cost_usd, price_table
from claw.config import Settings
from claw.db import Usage, read_session, write_session
from claw.pipeline.inbox import IncomingMessage, store_message
from claw.pipeline.turns import record_usage

MTOK = 1_000_000


def test_a_built_in_price_counts_every_kind_of_token() -> None:
    used = TokenUsage("claude-sonnet-4-5-20250929", MTOK, 2 * MTOK, 10 * MTOK, MTOK)
    # 3 in + 2 x 15 out + 10 x 0.30 cache read + 3.75 cache write
    assert cost_usd(used, price_table(None)) == pytest.approx(3 + 30 + 3 + 3.75)


def test_the_longest_matching_prefix_wins() -> None:
    # "claude-opus-4-5" is cheaper than the "claude-opus-4" it starts with
    assert cost_usd(TokenUsage("claude-opus-4-5-20251101", MTOK), price_table(None)) == pytest.approx(5.0)
    assert cost_usd(TokenUsage("claude-opus-4-1-20250805", MTOK), price_table(None)) == pytest.approx(15.0)


def test_a_model_without_a_price_costs_nothing_but_is_still_counted() -> None:
    assert cost_usd(TokenUsage("llama-3.1-8b", MTOK, MTOK), price_table(None)) == 0.0


def test_claw_prices_adds_a_model_and_overrides_a_built_in_one() -> None:
    table = price_table('{"llama-3": [0.1, 0.2, 0, 0], "claude-sonnet-4": [1, 2, 3, 4]}')
    assert cost_usd(TokenUsage("llama-3.1-8b", MTOK, MTOK), table) == pytest.approx(0.3)
    assert cost_usd(TokenUsage("claude-sonnet-4-5", MTOK, MTOK, MTOK, MTOK), table) == pytest.approx(10.0)
    # And the built-in table itself is left as it was
    assert BUILT_IN_PRICES["claude-sonnet-4"] == (3.0, 15.0, 0.30, 3.75)
    assert price_table(None)["claude-sonnet-4"] == (3.0, 15.0, 0.30, 3.75)


@pytest.mark.parametrize("bad", [
    "not json", "[1, 2, 3, 4]", '{"m": [1, 2, 3]}', '{"m": [1, 2, 3, 4, 5]}', '{"m": ["x", 1, 1, 1]}',
    '{"m": 5}', '{"m": "1234"}', '{"m": [-1, 0, 0, 0]}', '{"m": [NaN, 0, 0, 0]}', '{"m": [true, 0, 0, 0]}',
])
def test_a_malformed_claw_prices_is_a_clear_error(bad: str) -> None:
    with pytest.raises(PriceTableError, match="CLAW_PRICES must be JSON like"):
        price_table(bad)


def test_a_turns_usage_is_stored_at_the_claw_prices_price(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given CLAW_PRICES set for a local model, read as `claw up` reads it
    monkeypatch.setenv("CLAW_PRICES", '{"local-model": [2, 4, 0, 0]}')
    settings = Settings()
    assert settings.prices is not None
    with write_session(db_url) as session:
        group_id = store_message(session, IncomingMessage("http", "team", "ann", "hi")).group_id
    # When a turn's usage is recorded
    reply = AgentReply("hello", usage=[TokenUsage("local-model-7b", 500_000, 250_000)])
    with write_session(db_url) as session:
        record_usage(session, group_id, reply, settings.prices)
    # Then its cost is the configured price, next to its tokens
    with read_session(db_url) as session:
        [row] = session.scalars(select(Usage).where(Usage.group_id == group_id))
        assert (row.model, row.input_tokens, row.output_tokens) == ("local-model-7b", 500_000, 250_000)
        assert row.cost_usd == pytest.approx(2 * 0.5 + 4 * 0.25)
