from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="ReleaseRequest")


@_attrs_define
class ReleaseRequest:
    """A release request.

    Attributes:
        metric (str): The metric to release (declared by a plugin of the experiment).
    """

    metric: str

    def to_dict(self) -> dict[str, Any]:
        metric = self.metric

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "metric": metric,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        metric = d.pop("metric")

        release_request = cls(
            metric=metric,
        )

        return release_request
