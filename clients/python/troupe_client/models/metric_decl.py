from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="MetricDecl")


@_attrs_define
class MetricDecl:
    """A metric a research plugin emits.

    Attributes:
        name (str): Its name (1–64 of `a-z`, `0-9`, `_`).
        sensitivity (float): The most one user contributes to a release (values are clamped to ±this): the L1
            sensitivity the Laplace noise is calibrated to.
        description (None | str | Unset): What it measures.
    """

    name: str
    sensitivity: float
    description: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        sensitivity = self.sensitivity

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "sensitivity": sensitivity,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        sensitivity = d.pop("sensitivity")

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        metric_decl = cls(
            name=name,
            sensitivity=sensitivity,
            description=description,
        )

        return metric_decl
