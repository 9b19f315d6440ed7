from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.pipeline_definition import PipelineDefinition


T = TypeVar("T", bound="PipelineView")


@_attrs_define
class PipelineView:
    """A pipeline definition and where it comes from.

    Attributes:
        definition (PipelineDefinition): A pipeline definition as written: a named DAG of steps.
        hash_ (str): SHA-256 of the canonical definition.
        name (str):
        source (str): `builtin` or `user`.
        owner (None | Unset | UUID): The owner of a user pipeline.
    """

    definition: PipelineDefinition
    hash_: str
    name: str
    source: str
    owner: None | Unset | UUID = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        definition = self.definition.to_dict()

        hash_ = self.hash_

        name = self.name

        source = self.source

        owner: None | str | Unset
        if isinstance(self.owner, Unset):
            owner = UNSET
        elif isinstance(self.owner, UUID):
            owner = str(self.owner)
        else:
            owner = self.owner

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "definition": definition,
                "hash": hash_,
                "name": name,
                "source": source,
            }
        )
        if owner is not UNSET:
            field_dict["owner"] = owner

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.pipeline_definition import PipelineDefinition  # noqa: PLC0415

        d = dict(src_dict)
        definition = PipelineDefinition.from_dict(d.pop("definition"))

        hash_ = d.pop("hash")

        name = d.pop("name")

        source = d.pop("source")

        def _parse_owner(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                owner_type_0 = UUID(data)

                return owner_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        owner = _parse_owner(d.pop("owner", UNSET))

        pipeline_view = cls(
            definition=definition,
            hash_=hash_,
            name=name,
            source=source,
            owner=owner,
        )

        pipeline_view.additional_properties = d
        return pipeline_view

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
