from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="ResetConfirmRequest")


@_attrs_define
class ResetConfirmRequest:
    """Sets a new password with a mailed reset code.

    Attributes:
        new_password (str): 8 to 1024 characters.
        token (str):
    """

    new_password: str
    token: str

    def to_dict(self) -> dict[str, Any]:
        new_password = self.new_password

        token = self.token

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "new_password": new_password,
                "token": token,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        new_password = d.pop("new_password")

        token = d.pop("token")

        reset_confirm_request = cls(
            new_password=new_password,
            token=token,
        )

        return reset_confirm_request
