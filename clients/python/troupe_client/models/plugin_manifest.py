from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.plugin_kind import PluginKind
from ..models.track import Track
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.capabilities import Capabilities
    from ..models.limits import Limits
    from ..models.research import Research


T = TypeVar("T", bound="PluginManifest")


@_attrs_define
class PluginManifest:
    """A plugin manifest, as written.

    Attributes:
        name (str): The plugin's name, also the agent kind pipeline steps name: 1–64 of `a-z`, `0-9`, `_`, `-`.
        version (str): Its version (semantic versioning, e.g. `1.2.0`).
        kind (PluginKind): How a plugin runs.
        track (Track): Which track a plugin belongs to.
        entry (str): The module file (relative to the manifest) for `wasm`; the endpoint URL for `http`.
        description (None | str | Unset): What it does.
        agent (None | str | Unset): The agent kind it provides (its name by default).
        input_schema (Any | Unset): A JSON Schema the step's input is checked against before the plugin runs.
        output_schema (Any | Unset): A JSON Schema the plugin's output must match; an output that does not is refused.
        limits (Limits | Unset): Resource limits of one run.
        capabilities (Capabilities | Unset): Capabilities a plugin requests.
        research (None | Research | Unset): What a research plugin must declare.
    """

    name: str
    version: str
    kind: PluginKind
    track: Track
    entry: str
    description: None | str | Unset = UNSET
    agent: None | str | Unset = UNSET
    input_schema: Any | Unset = UNSET
    output_schema: Any | Unset = UNSET
    limits: Limits | Unset = UNSET
    capabilities: Capabilities | Unset = UNSET
    research: None | Research | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.research import Research  # noqa: PLC0415

        name = self.name

        version = self.version

        kind = self.kind.value

        track = self.track.value

        entry = self.entry

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        agent: None | str | Unset
        if isinstance(self.agent, Unset):
            agent = UNSET
        else:
            agent = self.agent

        input_schema = self.input_schema

        output_schema = self.output_schema

        limits: dict[str, Any] | Unset = UNSET
        if not isinstance(self.limits, Unset):
            limits = self.limits.to_dict()

        capabilities: dict[str, Any] | Unset = UNSET
        if not isinstance(self.capabilities, Unset):
            capabilities = self.capabilities.to_dict()

        research: dict[str, Any] | None | Unset
        if isinstance(self.research, Unset):
            research = UNSET
        elif isinstance(self.research, Research):
            research = self.research.to_dict()
        else:
            research = self.research

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "version": version,
                "kind": kind,
                "track": track,
                "entry": entry,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description
        if agent is not UNSET:
            field_dict["agent"] = agent
        if input_schema is not UNSET:
            field_dict["input_schema"] = input_schema
        if output_schema is not UNSET:
            field_dict["output_schema"] = output_schema
        if limits is not UNSET:
            field_dict["limits"] = limits
        if capabilities is not UNSET:
            field_dict["capabilities"] = capabilities
        if research is not UNSET:
            field_dict["research"] = research

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.capabilities import Capabilities  # noqa: PLC0415
        from ..models.limits import Limits  # noqa: PLC0415
        from ..models.research import Research  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        version = d.pop("version")

        kind = PluginKind(d.pop("kind"))

        track = Track(d.pop("track"))

        entry = d.pop("entry")

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        def _parse_agent(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        agent = _parse_agent(d.pop("agent", UNSET))

        input_schema = d.pop("input_schema", UNSET)

        output_schema = d.pop("output_schema", UNSET)

        _limits = d.pop("limits", UNSET)
        limits: Limits | Unset
        if isinstance(_limits, Unset):
            limits = UNSET
        else:
            limits = Limits.from_dict(_limits)

        _capabilities = d.pop("capabilities", UNSET)
        capabilities: Capabilities | Unset
        if isinstance(_capabilities, Unset):
            capabilities = UNSET
        else:
            capabilities = Capabilities.from_dict(_capabilities)

        def _parse_research(data: object) -> None | Research | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                research_type_0 = Research.from_dict(data)

                return research_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Research | Unset, data)

        research = _parse_research(d.pop("research", UNSET))

        plugin_manifest = cls(
            name=name,
            version=version,
            kind=kind,
            track=track,
            entry=entry,
            description=description,
            agent=agent,
            input_schema=input_schema,
            output_schema=output_schema,
            limits=limits,
            capabilities=capabilities,
            research=research,
        )

        return plugin_manifest
