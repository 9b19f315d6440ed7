from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.error_info import ErrorInfo


T = TypeVar("T", bound="EventType2")


@_attrs_define
class EventType2:
    """A failed attempt will be retried after a delay.

    Attributes:
        type_ (Literal['step_retrying']):
        step (str): The step key.
        attempt (int): The attempt that failed.
        delay_ms (int): The delay before the next attempt, in milliseconds.
        error (ErrorInfo): A machine-readable error with a stable code, a message for people and details.
        execution_id (UUID): Identifies one execution of a pipeline.
        seq (int): Position in the execution's log, from 1.
        at (datetime.datetime): When it happened.
    """

    type_: Literal["step_retrying"]
    step: str
    attempt: int
    delay_ms: int
    error: ErrorInfo
    execution_id: UUID
    seq: int
    at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        step = self.step

        attempt = self.attempt

        delay_ms = self.delay_ms

        error = self.error.to_dict()

        execution_id = str(self.execution_id)

        seq = self.seq

        at = self.at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "step": step,
                "attempt": attempt,
                "delay_ms": delay_ms,
                "error": error,
                "execution_id": execution_id,
                "seq": seq,
                "at": at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_info import ErrorInfo  # noqa: PLC0415

        d = dict(src_dict)
        type_ = cast(Literal["step_retrying"], d.pop("type"))
        if type_ != "step_retrying":
            raise ValueError(f"type must match const 'step_retrying', got '{type_}'")

        step = d.pop("step")

        attempt = d.pop("attempt")

        delay_ms = d.pop("delay_ms")

        error = ErrorInfo.from_dict(d.pop("error"))

        execution_id = UUID(d.pop("execution_id"))

        seq = d.pop("seq")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        event_type_2 = cls(
            type_=type_,
            step=step,
            attempt=attempt,
            delay_ms=delay_ms,
            error=error,
            execution_id=execution_id,
            seq=seq,
            at=at,
        )

        event_type_2.additional_properties = d
        return event_type_2

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
