from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.metric_decl import MetricDecl


T = TypeVar("T", bound="Research")


@_attrs_define
class Research:
    """The research section.

    Attributes:
        experiment (str): The experiment it serves (created beforehand by a researcher).
        hypothesis (str): The hypothesis document (non-empty), shown with the consent request.
        consent_required (bool): Must be `true`: research plugins never run without consent.
        flag (str): The feature flag that must be on for the user.
        metrics (list[MetricDecl]): The metrics it emits.
    """

    experiment: str
    hypothesis: str
    consent_required: bool
    flag: str
    metrics: list[MetricDecl]

    def to_dict(self) -> dict[str, Any]:
        experiment = self.experiment

        hypothesis = self.hypothesis

        consent_required = self.consent_required

        flag = self.flag

        metrics = []
        for metrics_item_data in self.metrics:
            metrics_item = metrics_item_data.to_dict()
            metrics.append(metrics_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "experiment": experiment,
                "hypothesis": hypothesis,
                "consent_required": consent_required,
                "flag": flag,
                "metrics": metrics,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.metric_decl import MetricDecl  # noqa: PLC0415

        d = dict(src_dict)
        experiment = d.pop("experiment")

        hypothesis = d.pop("hypothesis")

        consent_required = d.pop("consent_required")

        flag = d.pop("flag")

        metrics = []
        _metrics = d.pop("metrics")
        for metrics_item_data in _metrics:
            metrics_item = MetricDecl.from_dict(metrics_item_data)

            metrics.append(metrics_item)

        research = cls(
            experiment=experiment,
            hypothesis=hypothesis,
            consent_required=consent_required,
            flag=flag,
            metrics=metrics,
        )

        return research
