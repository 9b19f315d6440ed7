from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="EventType3")


@_attrs_define
class EventType3:
    """Steps were appended to the running execution.

    Attributes:
        type_ (Literal['steps_appended']):
        by (str): The step that appended them.
        steps (list[str]): Their keys.
        execution_id (UUID): Identifies one execution of a pipeline.
        seq (int): Position in the execution's log, from 1.
        at (datetime.datetime): When it happened.
    """

    type_: Literal["steps_appended"]
    by: str
    steps: list[str]
    execution_id: UUID
    seq: int
    at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        by = self.by

        steps = self.steps

        execution_id = str(self.execution_id)

        seq = self.seq

        at = self.at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "by": by,
                "steps": steps,
                "execution_id": execution_id,
                "seq": seq,
                "at": at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = cast(Literal["steps_appended"], d.pop("type"))
        if type_ != "steps_appended":
            raise ValueError(f"type must match const 'steps_appended', got '{type_}'")

        by = d.pop("by")

        steps = cast(list[str], d.pop("steps"))

        execution_id = UUID(d.pop("execution_id"))

        seq = d.pop("seq")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        event_type_3 = cls(
            type_=type_,
            by=by,
            steps=steps,
            execution_id=execution_id,
            seq=seq,
            at=at,
        )

        event_type_3.additional_properties = d
        return event_type_3

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
