from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="BackoffDef")


@_attrs_define
class BackoffDef:
    """Exponential backoff bounds as humantime durations.

    Attributes:
        initial (None | str | Unset): The delay before the first retry (default `"500ms"`); it doubles on each retry.
        max_ (None | str | Unset): The longest delay (default `"30s"`).
    """

    initial: None | str | Unset = UNSET
    max_: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        initial: None | str | Unset
        if isinstance(self.initial, Unset):
            initial = UNSET
        else:
            initial = self.initial

        max_: None | str | Unset
        if isinstance(self.max_, Unset):
            max_ = UNSET
        else:
            max_ = self.max_

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if initial is not UNSET:
            field_dict["initial"] = initial
        if max_ is not UNSET:
            field_dict["max"] = max_

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_initial(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        initial = _parse_initial(d.pop("initial", UNSET))

        def _parse_max_(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        max_ = _parse_max_(d.pop("max", UNSET))

        backoff_def = cls(
            initial=initial,
            max_=max_,
        )

        return backoff_def
