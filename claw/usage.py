"""Token usage and cost per group, summed from the usage table the turns fill in."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from claw.db import Usage


@dataclass(frozen=True, slots=True)
class UsageTotals:
    group_id: str
    turns: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


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
    if row is None:
        return UsageTotals(group_id, 0, 0, 0, 0, 0, 0.0)
    return UsageTotals(*row)


def all_totals(session: Session) -> list[UsageTotals]:
    return [UsageTotals(*row) for row in session.execute(_totals_query().order_by(Usage.group_id))]


def recent_turns(session: Session, group_id: str, limit: int = 20) -> list[Usage]:
    return list(
        session.scalars(
            select(Usage).where(Usage.group_id == group_id).order_by(Usage.id.desc()).limit(limit)
        )
    )
