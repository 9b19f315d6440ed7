from enum import StrEnum


class ExecutionStatus(StrEnum):
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    CORRECTING = "correcting"
    FAILED = "failed"
    PLANNED = "planned"
    RUNNING = "running"
    VALIDATING = "validating"

    def __str__(self) -> str:
        return str(self.value)
