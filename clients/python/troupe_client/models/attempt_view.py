from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.attempt_kind_name import AttemptKindName
from ..models.attempt_status_name import AttemptStatusName
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_info import ErrorInfo


T = TypeVar("T", bound="AttemptView")


@_attrs_define
class AttemptView:
    """One attempt of a step.

    Attributes:
        attempt (int):
        input_ (Any): What the agent was given (any JSON).
        kind (AttemptKindName): Why an attempt ran.
        started_at (datetime.datetime):
        status (AttemptStatusName): How an attempt ended.
        error (ErrorInfo | None | Unset):
        finished_at (datetime.datetime | None | Unset):
        output (Any | Unset): What it answered (any JSON).
    """

    attempt: int
    input_: Any
    kind: AttemptKindName
    started_at: datetime.datetime
    status: AttemptStatusName
    error: ErrorInfo | None | Unset = UNSET
    finished_at: datetime.datetime | None | Unset = UNSET
    output: Any | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_info import ErrorInfo  # noqa: PLC0415

        attempt = self.attempt

        input_ = self.input_

        kind = self.kind.value

        started_at = self.started_at.isoformat()

        status = self.status.value

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ErrorInfo):
            error = self.error.to_dict()
        else:
            error = self.error

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        output = self.output

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempt": attempt,
                "input": input_,
                "kind": kind,
                "started_at": started_at,
                "status": status,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if output is not UNSET:
            field_dict["output"] = output

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_info import ErrorInfo  # noqa: PLC0415

        d = dict(src_dict)
        attempt = d.pop("attempt")

        input_ = d.pop("input")

        kind = AttemptKindName(d.pop("kind"))

        started_at = datetime.datetime.fromisoformat(d.pop("started_at"))

        status = AttemptStatusName(d.pop("status"))

        def _parse_error(data: object) -> ErrorInfo | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_1 = ErrorInfo.from_dict(data)

                return error_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorInfo | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_finished_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        output = d.pop("output", UNSET)

        attempt_view = cls(
            attempt=attempt,
            input_=input_,
            kind=kind,
            started_at=started_at,
            status=status,
            error=error,
            finished_at=finished_at,
            output=output,
        )

        attempt_view.additional_properties = d
        return attempt_view

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
