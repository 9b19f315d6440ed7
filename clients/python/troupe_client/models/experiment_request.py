from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ExperimentRequest")


@_attrs_define
class ExperimentRequest:
    """A new experiment.

    Attributes:
        hypothesis (str): The hypothesis document users read before they consent.
        id (str): 1–64 of `a-z`, `0-9`, `_`, `-`.
        title (str): 1–200 characters.
        epsilon_per_release (float | None | Unset): What one release spends (default 0.5, at most the server's cap and
            `epsilon_total`).
        epsilon_total (float | None | Unset): The whole privacy budget (default 2.0, at most the server's cap).
    """

    hypothesis: str
    id: str
    title: str
    epsilon_per_release: float | None | Unset = UNSET
    epsilon_total: float | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        hypothesis = self.hypothesis

        id = self.id

        title = self.title

        epsilon_per_release: float | None | Unset
        if isinstance(self.epsilon_per_release, Unset):
            epsilon_per_release = UNSET
        else:
            epsilon_per_release = self.epsilon_per_release

        epsilon_total: float | None | Unset
        if isinstance(self.epsilon_total, Unset):
            epsilon_total = UNSET
        else:
            epsilon_total = self.epsilon_total

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "hypothesis": hypothesis,
                "id": id,
                "title": title,
            }
        )
        if epsilon_per_release is not UNSET:
            field_dict["epsilon_per_release"] = epsilon_per_release
        if epsilon_total is not UNSET:
            field_dict["epsilon_total"] = epsilon_total

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        hypothesis = d.pop("hypothesis")

        id = d.pop("id")

        title = d.pop("title")

        def _parse_epsilon_per_release(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        epsilon_per_release = _parse_epsilon_per_release(d.pop("epsilon_per_release", UNSET))

        def _parse_epsilon_total(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        epsilon_total = _parse_epsilon_total(d.pop("epsilon_total", UNSET))

        experiment_request = cls(
            hypothesis=hypothesis,
            id=id,
            title=title,
            epsilon_per_release=epsilon_per_release,
            epsilon_total=epsilon_total,
        )

        return experiment_request
