from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.log_level import LogLevel
from ..types import UNSET, Unset

T = TypeVar("T", bound="EventType8")


@_attrs_define
class EventType8:
    """A step logged a line.

    Attributes:
        type_ (Literal['log']):
        level (LogLevel): Severity of a log line.
        message (str): The text.
        execution_id (UUID): Identifies one execution of a pipeline.
        seq (int): Position in the execution's log, from 1.
        at (datetime.datetime): When it happened.
        step (None | str | Unset): The step key, if any.
    """

    type_: Literal["log"]
    level: LogLevel
    message: str
    execution_id: UUID
    seq: int
    at: datetime.datetime
    step: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        level = self.level.value

        message = self.message

        execution_id = str(self.execution_id)

        seq = self.seq

        at = self.at.isoformat()

        step: None | str | Unset
        if isinstance(self.step, Unset):
            step = UNSET
        else:
            step = self.step

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "level": level,
                "message": message,
                "execution_id": execution_id,
                "seq": seq,
                "at": at,
            }
        )
        if step is not UNSET:
            field_dict["step"] = step

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = cast(Literal["log"], d.pop("type"))
        if type_ != "log":
            raise ValueError(f"type must match const 'log', got '{type_}'")

        level = LogLevel(d.pop("level"))

        message = d.pop("message")

        execution_id = UUID(d.pop("execution_id"))

        seq = d.pop("seq")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        def _parse_step(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        step = _parse_step(d.pop("step", UNSET))

        event_type_8 = cls(
            type_=type_,
            level=level,
            message=message,
            execution_id=execution_id,
            seq=seq,
            at=at,
            step=step,
        )

        event_type_8.additional_properties = d
        return event_type_8

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
