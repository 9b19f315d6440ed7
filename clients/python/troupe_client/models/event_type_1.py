from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.step_status import StepStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_info import ErrorInfo


T = TypeVar("T", bound="EventType1")


@_attrs_define
class EventType1:
    """A step changed status.

    Attributes:
        type_ (Literal['step_status']):
        step (str): The step key.
        status (StepStatus): The lifecycle status of one step of an execution.
        attempt (int): The attempt it concerns.
        execution_id (UUID): Identifies one execution of a pipeline.
        seq (int): Position in the execution's log, from 1.
        at (datetime.datetime): When it happened.
        error (ErrorInfo | None | Unset): The error or reason (failed, skipped, cancelled).
    """

    type_: Literal["step_status"]
    step: str
    status: StepStatus
    attempt: int
    execution_id: UUID
    seq: int
    at: datetime.datetime
    error: ErrorInfo | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_info import ErrorInfo  # noqa: PLC0415

        type_ = self.type_

        step = self.step

        status = self.status.value

        attempt = self.attempt

        execution_id = str(self.execution_id)

        seq = self.seq

        at = self.at.isoformat()

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ErrorInfo):
            error = self.error.to_dict()
        else:
            error = self.error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "step": step,
                "status": status,
                "attempt": attempt,
                "execution_id": execution_id,
                "seq": seq,
                "at": at,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_info import ErrorInfo  # noqa: PLC0415

        d = dict(src_dict)
        type_ = cast(Literal["step_status"], d.pop("type"))
        if type_ != "step_status":
            raise ValueError(f"type must match const 'step_status', got '{type_}'")

        step = d.pop("step")

        status = StepStatus(d.pop("status"))

        attempt = d.pop("attempt")

        execution_id = UUID(d.pop("execution_id"))

        seq = d.pop("seq")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        def _parse_error(data: object) -> ErrorInfo | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = ErrorInfo.from_dict(data)

                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorInfo | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        event_type_1 = cls(
            type_=type_,
            step=step,
            status=status,
            attempt=attempt,
            execution_id=execution_id,
            seq=seq,
            at=at,
            error=error,
        )

        event_type_1.additional_properties = d
        return event_type_1

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
