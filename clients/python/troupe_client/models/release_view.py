from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ReleaseView")


@_attrs_define
class ReleaseView:
    """A differentially private release.

    Attributes:
        count_scale (float):
        epsilon (float):
        id (UUID):
        metric (str):
        noisy_count (float): The noisy number of contributing users.
        noisy_sum (float): The noisy sum of the users' contributions (each clamped to the metric's sensitivity).
        released_at (datetime.datetime):
        sum_scale (float):
        noisy_mean (float | None | Unset): `noisy_sum / noisy_count` when the count is at least 1 (post-processing, no
            extra cost).
    """

    count_scale: float
    epsilon: float
    id: UUID
    metric: str
    noisy_count: float
    noisy_sum: float
    released_at: datetime.datetime
    sum_scale: float
    noisy_mean: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        count_scale = self.count_scale

        epsilon = self.epsilon

        id = str(self.id)

        metric = self.metric

        noisy_count = self.noisy_count

        noisy_sum = self.noisy_sum

        released_at = self.released_at.isoformat()

        sum_scale = self.sum_scale

        noisy_mean: float | None | Unset
        if isinstance(self.noisy_mean, Unset):
            noisy_mean = UNSET
        else:
            noisy_mean = self.noisy_mean

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "count_scale": count_scale,
                "epsilon": epsilon,
                "id": id,
                "metric": metric,
                "noisy_count": noisy_count,
                "noisy_sum": noisy_sum,
                "released_at": released_at,
                "sum_scale": sum_scale,
            }
        )
        if noisy_mean is not UNSET:
            field_dict["noisy_mean"] = noisy_mean

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        count_scale = d.pop("count_scale")

        epsilon = d.pop("epsilon")

        id = UUID(d.pop("id"))

        metric = d.pop("metric")

        noisy_count = d.pop("noisy_count")

        noisy_sum = d.pop("noisy_sum")

        released_at = datetime.datetime.fromisoformat(d.pop("released_at"))

        sum_scale = d.pop("sum_scale")

        def _parse_noisy_mean(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        noisy_mean = _parse_noisy_mean(d.pop("noisy_mean", UNSET))

        release_view = cls(
            count_scale=count_scale,
            epsilon=epsilon,
            id=id,
            metric=metric,
            noisy_count=noisy_count,
            noisy_sum=noisy_sum,
            released_at=released_at,
            sum_scale=sum_scale,
            noisy_mean=noisy_mean,
        )

        release_view.additional_properties = d
        return release_view

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
