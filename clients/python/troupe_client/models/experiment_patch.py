from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.experiment_status_name import ExperimentStatusName
from ..types import UNSET, Unset

T = TypeVar("T", bound="ExperimentPatch")


@_attrs_define
class ExperimentPatch:
    """Changes to an experiment (its owner's).

    Attributes:
        status (ExperimentStatusName | None | Unset):
    """

    status: ExperimentStatusName | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, ExperimentStatusName):
            status = self.status.value
        else:
            status = self.status

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_status(data: object) -> ExperimentStatusName | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = ExperimentStatusName(data)

                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ExperimentStatusName | None | Unset, data)

        status = _parse_status(d.pop("status", UNSET))

        experiment_patch = cls(
            status=status,
        )

        return experiment_patch
