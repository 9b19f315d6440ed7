from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="PasswordRequest")


@_attrs_define
class PasswordRequest:
    """A password change.

    Attributes:
        current_password (str):
        new_password (str): 8 to 1024 characters.
        revoke_api_keys (bool | Unset): Whether the caller's API keys stop working too (default true).
    """

    current_password: str
    new_password: str
    revoke_api_keys: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        current_password = self.current_password

        new_password = self.new_password

        revoke_api_keys = self.revoke_api_keys

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "current_password": current_password,
                "new_password": new_password,
            }
        )
        if revoke_api_keys is not UNSET:
            field_dict["revoke_api_keys"] = revoke_api_keys

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        current_password = d.pop("current_password")

        new_password = d.pop("new_password")

        revoke_api_keys = d.pop("revoke_api_keys", UNSET)

        password_request = cls(
            current_password=current_password,
            new_password=new_password,
            revoke_api_keys=revoke_api_keys,
        )

        return password_request
