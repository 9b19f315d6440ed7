from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.log_level import LogLevel
from ..types import UNSET, Unset

T = TypeVar("T", bound="LogEntry")


@_attrs_define
class LogEntry:
    """A log line of an execution.

    Attributes:
        execution_id (UUID): Identifies one execution of a pipeline.
        level (LogLevel): Severity of a log line.
        message (str): The text.
        created_at (datetime.datetime): When it was written.
        step_key (None | str | Unset): The step it came from, if any.
    """

    execution_id: UUID
    level: LogLevel
    message: str
    created_at: datetime.datetime
    step_key: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        execution_id = str(self.execution_id)

        level = self.level.value

        message = self.message

        created_at = self.created_at.isoformat()

        step_key: None | str | Unset
        if isinstance(self.step_key, Unset):
            step_key = UNSET
        else:
            step_key = self.step_key

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "execution_id": execution_id,
                "level": level,
                "message": message,
                "created_at": created_at,
            }
        )
        if step_key is not UNSET:
            field_dict["step_key"] = step_key

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        execution_id = UUID(d.pop("execution_id"))

        level = LogLevel(d.pop("level"))

        message = d.pop("message")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_step_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        step_key = _parse_step_key(d.pop("step_key", UNSET))

        log_entry = cls(
            execution_id=execution_id,
            level=level,
            message=message,
            created_at=created_at,
            step_key=step_key,
        )

        log_entry.additional_properties = d
        return log_entry

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
