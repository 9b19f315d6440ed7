from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="UsageCallView")


@_attrs_define
class UsageCallView:
    """The LLM use of one attempt with one model.

    Attributes:
        attempt (int):
        completion_tokens (int):
        cost_usd (float):
        model (str):
        prompt_tokens (int):
        provider (str):
        step (str):
    """

    attempt: int
    completion_tokens: int
    cost_usd: float
    model: str
    prompt_tokens: int
    provider: str
    step: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempt = self.attempt

        completion_tokens = self.completion_tokens

        cost_usd = self.cost_usd

        model = self.model

        prompt_tokens = self.prompt_tokens

        provider = self.provider

        step = self.step

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempt": attempt,
                "completion_tokens": completion_tokens,
                "cost_usd": cost_usd,
                "model": model,
                "prompt_tokens": prompt_tokens,
                "provider": provider,
                "step": step,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        attempt = d.pop("attempt")

        completion_tokens = d.pop("completion_tokens")

        cost_usd = d.pop("cost_usd")

        model = d.pop("model")

        prompt_tokens = d.pop("prompt_tokens")

        provider = d.pop("provider")

        step = d.pop("step")

        usage_call_view = cls(
            attempt=attempt,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
            model=model,
            prompt_tokens=prompt_tokens,
            provider=provider,
            step=step,
        )

        usage_call_view.additional_properties = d
        return usage_call_view

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
