from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="OwnModelPatch")


@_attrs_define
class OwnModelPatch:
    """A user's own model provider key.

    Attributes:
        api_key (str): The provider key (8 to 512 visible characters).
        model (None | str | Unset): The model (at most 200 characters; the server's default when absent).
    """

    api_key: str
    model: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        api_key = self.api_key

        model: None | str | Unset
        if isinstance(self.model, Unset):
            model = UNSET
        else:
            model = self.model

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "api_key": api_key,
            }
        )
        if model is not UNSET:
            field_dict["model"] = model

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        api_key = d.pop("api_key")

        def _parse_model(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        model = _parse_model(d.pop("model", UNSET))

        own_model_patch = cls(
            api_key=api_key,
            model=model,
        )

        return own_model_patch
