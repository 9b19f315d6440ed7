"""Contains all the data models used in inputs/outputs"""

from .agent_view import AgentView
from .api_key_request import ApiKeyRequest
from .api_key_view import ApiKeyView
from .approval_view import ApprovalView
from .approvers_view import ApproversView
from .artifact_view import ArtifactView
from .asyncapi_json_response_200 import AsyncapiJsonResponse200
from .attempt_kind_name import AttemptKindName
from .attempt_status_name import AttemptStatusName
from .attempt_view import AttemptView
from .audit_view import AuditView
from .backoff_def import BackoffDef
from .budget import Budget
from .budget_def import BudgetDef
from .capabilities import Capabilities
from .consent_request import ConsentRequest
from .consent_view import ConsentView
from .create_execution import CreateExecution
from .decide_request import DecideRequest
from .decision import Decision
from .decision_name import DecisionName
from .delete_account import DeleteAccount
from .deleted import Deleted
from .deletion_report import DeletionReport
from .error_body import ErrorBody
from .error_fields import ErrorFields
from .error_info import ErrorInfo
from .event_type_0 import EventType0
from .event_type_1 import EventType1
from .event_type_2 import EventType2
from .event_type_3 import EventType3
from .event_type_4 import EventType4
from .event_type_5 import EventType5
from .event_type_6 import EventType6
from .event_type_7 import EventType7
from .event_type_8 import EventType8
from .execution_page import ExecutionPage
from .execution_status import ExecutionStatus
from .execution_status_name import ExecutionStatusName
from .execution_view import ExecutionView
from .execution_view_definition_type_0 import ExecutionViewDefinitionType0
from .experiment_patch import ExperimentPatch
from .experiment_request import ExperimentRequest
from .experiment_status_name import ExperimentStatusName
from .experiment_view import ExperimentView
from .export_view import ExportView
from .file_list import FileList
from .file_view import FileView
from .flag_body import FlagBody
from .flag_view import FlagView
from .health import Health
from .limits import Limits
from .list_executions_status import ListExecutionsStatus
from .log_entry import LogEntry
from .log_level import LogLevel
from .login_request import LoginRequest
from .logout_request import LogoutRequest
from .memory_export import MemoryExport
from .memory_filters import MemoryFilters
from .memory_view import MemoryView
from .memory_view_metadata import MemoryViewMetadata
from .metric_decl import MetricDecl
from .new_user import NewUser
from .node_view import NodeView
from .node_view_status import NodeViewStatus
from .openapi_json_response_200 import OpenapiJsonResponse200
from .own_model_patch import OwnModelPatch
from .own_model_view import OwnModelView
from .password_request import PasswordRequest
from .pipeline_definition import PipelineDefinition
from .pipeline_view import PipelineView
from .plugin_kind import PluginKind
from .plugin_manifest import PluginManifest
from .plugin_view import PluginView
from .plugin_view_research_type_0 import PluginViewResearchType0
from .profile_patch import ProfilePatch
from .profile_patch_preferences_type_0 import ProfilePatchPreferencesType0
from .profile_view import ProfileView
from .profile_view_preferences import ProfileViewPreferences
from .project_patch import ProjectPatch
from .project_request import ProjectRequest
from .project_view import ProjectView
from .refresh_request import RefreshRequest
from .register_plugin import RegisterPlugin
from .register_request import RegisterRequest
from .release_request import ReleaseRequest
from .release_view import ReleaseView
from .research import Research
from .reset_confirm_request import ResetConfirmRequest
from .reset_request import ResetRequest
from .retry_def import RetryDef
from .role_name import RoleName
from .search_memories_request import SearchMemoriesRequest
from .search_results import SearchResults
from .session_view import SessionView
from .setup_request import SetupRequest
from .step_def import StepDef
from .step_status import StepStatus
from .step_status_name import StepStatusName
from .step_view import StepView
from .store_memory_request import StoreMemoryRequest
from .store_memory_request_metadata_type_0 import StoreMemoryRequestMetadataType0
from .token_view import TokenView
from .track import Track
from .upload_form import UploadForm
from .usage_call_view import UsageCallView
from .usage_view import UsageView
from .user_patch import UserPatch
from .user_view import UserView
from .verify_request import VerifyRequest

__all__ = (
    "AgentView",
    "ApiKeyRequest",
    "ApiKeyView",
    "ApprovalView",
    "ApproversView",
    "ArtifactView",
    "AsyncapiJsonResponse200",
    "AttemptKindName",
    "AttemptStatusName",
    "AttemptView",
    "AuditView",
    "BackoffDef",
    "Budget",
    "BudgetDef",
    "Capabilities",
    "ConsentRequest",
    "ConsentView",
    "CreateExecution",
    "DecideRequest",
    "Decision",
    "DecisionName",
    "DeleteAccount",
    "Deleted",
    "DeletionReport",
    "ErrorBody",
    "ErrorFields",
    "ErrorInfo",
    "EventType0",
    "EventType1",
    "EventType2",
    "EventType3",
    "EventType4",
    "EventType5",
    "EventType6",
    "EventType7",
    "EventType8",
    "ExecutionPage",
    "ExecutionStatus",
    "ExecutionStatusName",
    "ExecutionView",
    "ExecutionViewDefinitionType0",
    "ExperimentPatch",
    "ExperimentRequest",
    "ExperimentStatusName",
    "ExperimentView",
    "ExportView",
    "FileList",
    "FileView",
    "FlagBody",
    "FlagView",
    "Health",
    "Limits",
    "ListExecutionsStatus",
    "LogEntry",
    "LoginRequest",
    "LogLevel",
    "LogoutRequest",
    "MemoryExport",
    "MemoryFilters",
    "MemoryView",
    "MemoryViewMetadata",
    "MetricDecl",
    "NewUser",
    "NodeView",
    "NodeViewStatus",
    "OpenapiJsonResponse200",
    "OwnModelPatch",
    "OwnModelView",
    "PasswordRequest",
    "PipelineDefinition",
    "PipelineView",
    "PluginKind",
    "PluginManifest",
    "PluginView",
    "PluginViewResearchType0",
    "ProfilePatch",
    "ProfilePatchPreferencesType0",
    "ProfileView",
    "ProfileViewPreferences",
    "ProjectPatch",
    "ProjectRequest",
    "ProjectView",
    "RefreshRequest",
    "RegisterPlugin",
    "RegisterRequest",
    "ReleaseRequest",
    "ReleaseView",
    "Research",
    "ResetConfirmRequest",
    "ResetRequest",
    "RetryDef",
    "RoleName",
    "SearchMemoriesRequest",
    "SearchResults",
    "SessionView",
    "SetupRequest",
    "StepDef",
    "StepStatus",
    "StepStatusName",
    "StepView",
    "StoreMemoryRequest",
    "StoreMemoryRequestMetadataType0",
    "TokenView",
    "Track",
    "UploadForm",
    "UsageCallView",
    "UsageView",
    "UserPatch",
    "UserView",
    "VerifyRequest",
)
