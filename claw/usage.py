"""Token usage and cost per group, summed from the usage table the turns fill in."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from claw.db import Usage


class UsageTotals(BaseModel):
    group_id: str
    turns: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float

    @classmethod
    def of_row(cls, row: tuple) -> UsageTotals:  # type: ignore[type-arg]
        return cls(**dict(zip(cls.model_fields, row)))


def _totals_query():  # type: ignore[no-untyped-def]
    return select(
        Usage.group_id,
        func.count(Usage.id),
        func.coalesce(func.sum(Usage.input_tokens), 0),
        func.coalesce(func.sum(Usage.output_tokens), 0),
        func.coalesce(func.sum(Usage.cache_read_tokens), 0),
        func.coalesce(func.sum(Usage.cache_write_tokens), 0),
        func.coalesce(func.sum(Usage.cost_usd), 0.0),
    ).group_by(Usage.group_id)


def group_totals(session: Session, group_id: str) -> UsageTotals:
    row = session.execute(_totals_query().where(Usage.group_id == group_id)).first()
    return UsageTotals.of_row(row if row is not None else (group_id, 0, 0, 0, 0, 0, 0.0))


def all_totals(session: Session) -> list[UsageTotals]:
    return [UsageTotals.of_row(row) for row in session.execute(_totals_query().order_by(Usage.group_id))]


def recent_turns(session: Session, group_id: str, limit: int = 20) -> list[Usage]:
    return list(
        session.scalars(
            select(Usage).where(Usage.group_id == group_id).order_by(Usage.id.desc()).limit(limit)
        )
    )
