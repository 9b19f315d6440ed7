from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.execution_status import ExecutionStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_info import ErrorInfo


T = TypeVar("T", bound="EventType0")


@_attrs_define
class EventType0:
    """The execution changed status.

    Attributes:
        type_ (Literal['execution_status']):
        status (ExecutionStatus): The lifecycle status of an execution.
        execution_id (UUID): Identifies one execution of a pipeline.
        seq (int): Position in the execution's log, from 1.
        at (datetime.datetime): When it happened.
        error (ErrorInfo | None | Unset): The error, when it failed.
    """

    type_: Literal["execution_status"]
    status: ExecutionStatus
    execution_id: UUID
    seq: int
    at: datetime.datetime
    error: ErrorInfo | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_info import ErrorInfo  # noqa: PLC0415

        type_ = self.type_

        status = self.status.value

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
                "status": status,
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
        type_ = cast(Literal["execution_status"], d.pop("type"))
        if type_ != "execution_status":
            raise ValueError(f"type must match const 'execution_status', got '{type_}'")

        status = ExecutionStatus(d.pop("status"))

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

        event_type_0 = cls(
            type_=type_,
            status=status,
            execution_id=execution_id,
            seq=seq,
            at=at,
            error=error,
        )

        event_type_0.additional_properties = d
        return event_type_0

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
