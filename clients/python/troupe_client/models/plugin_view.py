from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.plugin_view_research_type_0 import PluginViewResearchType0


T = TypeVar("T", bound="PluginView")


@_attrs_define
class PluginView:
    """A plugin as the API shows it.

    Attributes:
        agent (str): The agent kind pipeline steps name.
        kind (str):
        name (str):
        registered_at (datetime.datetime):
        status (str): `running`, `restarting`, `disabled` or `not_loaded`.
        track (str):
        version (str):
        description (None | str | Unset):
        reason (None | str | Unset): Why it is disabled.
        research (None | PluginViewResearchType0 | Unset): The research section (experiment, flag, metrics) of research
            plugins; `null` for others.
    """

    agent: str
    kind: str
    name: str
    registered_at: datetime.datetime
    status: str
    track: str
    version: str
    description: None | str | Unset = UNSET
    reason: None | str | Unset = UNSET
    research: None | PluginViewResearchType0 | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.plugin_view_research_type_0 import PluginViewResearchType0  # noqa: PLC0415

        agent = self.agent

        kind = self.kind

        name = self.name

        registered_at = self.registered_at.isoformat()

        status = self.status

        track = self.track

        version = self.version

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        research: dict[str, Any] | None | Unset
        if isinstance(self.research, Unset):
            research = UNSET
        elif isinstance(self.research, PluginViewResearchType0):
            research = self.research.to_dict()
        else:
            research = self.research

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "agent": agent,
                "kind": kind,
                "name": name,
                "registered_at": registered_at,
                "status": status,
                "track": track,
                "version": version,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description
        if reason is not UNSET:
            field_dict["reason"] = reason
        if research is not UNSET:
            field_dict["research"] = research

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.plugin_view_research_type_0 import PluginViewResearchType0  # noqa: PLC0415

        d = dict(src_dict)
        agent = d.pop("agent")

        kind = d.pop("kind")

        name = d.pop("name")

        registered_at = datetime.datetime.fromisoformat(d.pop("registered_at"))

        status = d.pop("status")

        track = d.pop("track")

        version = d.pop("version")

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        def _parse_research(data: object) -> None | PluginViewResearchType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                research_type_0 = PluginViewResearchType0.from_dict(data)

                return research_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PluginViewResearchType0 | Unset, data)

        research = _parse_research(d.pop("research", UNSET))

        plugin_view = cls(
            agent=agent,
            kind=kind,
            name=name,
            registered_at=registered_at,
            status=status,
            track=track,
            version=version,
            description=description,
            reason=reason,
            research=research,
        )

        plugin_view.additional_properties = d
        return plugin_view

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
