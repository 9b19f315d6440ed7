from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.decision import Decision
from ..types import UNSET, Unset

T = TypeVar("T", bound="EventType7")


@_attrs_define
class EventType7:
    """An approval step was decided (or timed out).

    Attributes:
        type_ (Literal['approval_decided']):
        step (str): The step key.
        attempt (int): The attempt.
        decision (Decision): How an approval was decided.
        execution_id (UUID): Identifies one execution of a pipeline.
        seq (int): Position in the execution's log, from 1.
        at (datetime.datetime): When it happened.
        by (None | Unset | UUID): Who decided (absent for a timeout).
        comment (None | str | Unset): Their comment.
    """

    type_: Literal["approval_decided"]
    step: str
    attempt: int
    decision: Decision
    execution_id: UUID
    seq: int
    at: datetime.datetime
    by: None | Unset | UUID = UNSET
    comment: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        step = self.step

        attempt = self.attempt

        decision = self.decision.value

        execution_id = str(self.execution_id)

        seq = self.seq

        at = self.at.isoformat()

        by: None | str | Unset
        if isinstance(self.by, Unset):
            by = UNSET
        elif isinstance(self.by, UUID):
            by = str(self.by)
        else:
            by = self.by

        comment: None | str | Unset
        if isinstance(self.comment, Unset):
            comment = UNSET
        else:
            comment = self.comment

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "step": step,
                "attempt": attempt,
                "decision": decision,
                "execution_id": execution_id,
                "seq": seq,
                "at": at,
            }
        )
        if by is not UNSET:
            field_dict["by"] = by
        if comment is not UNSET:
            field_dict["comment"] = comment

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = cast(Literal["approval_decided"], d.pop("type"))
        if type_ != "approval_decided":
            raise ValueError(f"type must match const 'approval_decided', got '{type_}'")

        step = d.pop("step")

        attempt = d.pop("attempt")

        decision = Decision(d.pop("decision"))

        execution_id = UUID(d.pop("execution_id"))

        seq = d.pop("seq")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        def _parse_by(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                by_type_0 = UUID(data)

                return by_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        by = _parse_by(d.pop("by", UNSET))

        def _parse_comment(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        comment = _parse_comment(d.pop("comment", UNSET))

        event_type_7 = cls(
            type_=type_,
            step=step,
            attempt=attempt,
            decision=decision,
            execution_id=execution_id,
            seq=seq,
            at=at,
            by=by,
            comment=comment,
        )

        event_type_7.additional_properties = d
        return event_type_7

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
