from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="EventType6")


@_attrs_define
class EventType6:
    """An approval step asks people to decide (the step is `waiting`).

    Attributes:
        type_ (Literal['approval_requested']):
        step (str): The step key.
        attempt (int): The attempt.
        prompt (str): What is to be approved.
        execution_id (UUID): Identifies one execution of a pipeline.
        seq (int): Position in the execution's log, from 1.
        at (datetime.datetime): When it happened.
        deadline (datetime.datetime | None | Unset): When it times out, if it does.
    """

    type_: Literal["approval_requested"]
    step: str
    attempt: int
    prompt: str
    execution_id: UUID
    seq: int
    at: datetime.datetime
    deadline: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        step = self.step

        attempt = self.attempt

        prompt = self.prompt

        execution_id = str(self.execution_id)

        seq = self.seq

        at = self.at.isoformat()

        deadline: None | str | Unset
        if isinstance(self.deadline, Unset):
            deadline = UNSET
        elif isinstance(self.deadline, datetime.datetime):
            deadline = self.deadline.isoformat()
        else:
            deadline = self.deadline

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "step": step,
                "attempt": attempt,
                "prompt": prompt,
                "execution_id": execution_id,
                "seq": seq,
                "at": at,
            }
        )
        if deadline is not UNSET:
            field_dict["deadline"] = deadline

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = cast(Literal["approval_requested"], d.pop("type"))
        if type_ != "approval_requested":
            raise ValueError(f"type must match const 'approval_requested', got '{type_}'")

        step = d.pop("step")

        attempt = d.pop("attempt")

        prompt = d.pop("prompt")

        execution_id = UUID(d.pop("execution_id"))

        seq = d.pop("seq")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        def _parse_deadline(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                deadline_type_0 = datetime.datetime.fromisoformat(data)

                return deadline_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        deadline = _parse_deadline(d.pop("deadline", UNSET))

        event_type_6 = cls(
            type_=type_,
            step=step,
            attempt=attempt,
            prompt=prompt,
            execution_id=execution_id,
            seq=seq,
            at=at,
            deadline=deadline,
        )

        event_type_6.additional_properties = d
        return event_type_6

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
