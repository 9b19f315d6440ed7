from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ApiKeyRequest")


@_attrs_define
class ApiKeyRequest:
    """A new API key.

    Attributes:
        name (str): A name to recognise it by (1–100 characters).
        read_only (bool | Unset): A read-only key may only call GET endpoints.
    """

    name: str
    read_only: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        read_only = self.read_only

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if read_only is not UNSET:
            field_dict["read_only"] = read_only

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        read_only = d.pop("read_only", UNSET)

        api_key_request = cls(
            name=name,
            read_only=read_only,
        )

        return api_key_request
