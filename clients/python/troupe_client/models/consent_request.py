from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="ConsentRequest")


@_attrs_define
class ConsentRequest:
    """A consent decision.

    Attributes:
        granted (bool): `true` to consent, `false` to revoke.
    """

    granted: bool

    def to_dict(self) -> dict[str, Any]:
        granted = self.granted

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "granted": granted,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        granted = d.pop("granted")

        consent_request = cls(
            granted=granted,
        )

        return consent_request
