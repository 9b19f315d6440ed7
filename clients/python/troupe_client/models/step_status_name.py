from enum import StrEnum


class StepStatusName(StrEnum):
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    CORRECTING = "correcting"
    FAILED = "failed"
    PENDING = "pending"
    RUNNING = "running"
    SKIPPED = "skipped"
    VALIDATING = "validating"
    WAITING = "waiting"

    def __str__(self) -> str:
        return str(self.value)
