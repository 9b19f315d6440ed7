from enum import StrEnum


class AttemptKindName(StrEnum):
    CORRECTION = "correction"
    INITIAL = "initial"
    RECOVERY = "recovery"
    RETRY = "retry"

    def __str__(self) -> str:
        return str(self.value)
