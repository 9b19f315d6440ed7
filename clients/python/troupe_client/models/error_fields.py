from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ErrorFields")


@_attrs_define
class ErrorFields:
    """The fields of an error.

    Attributes:
        code (str): A stable `snake_case` code, e.g. `validation_failed`, `not_found`, `rate_limited`.
        details (Any): Structured details, `null` when there are none; for validation errors
            `{"fields": [{"field", "message"}]}`, for invalid pipelines each field also names its
            `step`.
        message (str): What went wrong, for people.
        timestamp (datetime.datetime): When (RFC 3339).
    """

    code: str
    details: Any
    message: str
    timestamp: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        details = self.details

        message = self.message

        timestamp = self.timestamp.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "code": code,
                "details": details,
                "message": message,
                "timestamp": timestamp,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        details = d.pop("details")

        message = d.pop("message")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        error_fields = cls(
            code=code,
            details=details,
            message=message,
            timestamp=timestamp,
        )

        error_fields.additional_properties = d
        return error_fields

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
