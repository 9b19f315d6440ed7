from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ExperimentView")


@_attrs_define
class ExperimentView:
    """An experiment as users see it.

    Attributes:
        consented (bool): Whether the caller consents now.
        created_at (datetime.datetime):
        epsilon_per_release (float):
        epsilon_spent (float): What the releases spent so far.
        epsilon_total (float):
        hypothesis (str):
        id (str):
        owner_id (UUID):
        status (str):
        title (str):
    """

    consented: bool
    created_at: datetime.datetime
    epsilon_per_release: float
    epsilon_spent: float
    epsilon_total: float
    hypothesis: str
    id: str
    owner_id: UUID
    status: str
    title: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        consented = self.consented

        created_at = self.created_at.isoformat()

        epsilon_per_release = self.epsilon_per_release

        epsilon_spent = self.epsilon_spent

        epsilon_total = self.epsilon_total

        hypothesis = self.hypothesis

        id = self.id

        owner_id = str(self.owner_id)

        status = self.status

        title = self.title

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "consented": consented,
                "created_at": created_at,
                "epsilon_per_release": epsilon_per_release,
                "epsilon_spent": epsilon_spent,
                "epsilon_total": epsilon_total,
                "hypothesis": hypothesis,
                "id": id,
                "owner_id": owner_id,
                "status": status,
                "title": title,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        consented = d.pop("consented")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        epsilon_per_release = d.pop("epsilon_per_release")

        epsilon_spent = d.pop("epsilon_spent")

        epsilon_total = d.pop("epsilon_total")

        hypothesis = d.pop("hypothesis")

        id = d.pop("id")

        owner_id = UUID(d.pop("owner_id"))

        status = d.pop("status")

        title = d.pop("title")

        experiment_view = cls(
            consented=consented,
            created_at=created_at,
            epsilon_per_release=epsilon_per_release,
            epsilon_spent=epsilon_spent,
            epsilon_total=epsilon_total,
            hypothesis=hypothesis,
            id=id,
            owner_id=owner_id,
            status=status,
            title=title,
        )

        experiment_view.additional_properties = d
        return experiment_view

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
