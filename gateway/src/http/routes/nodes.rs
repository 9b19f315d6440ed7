//! `/api/v1/nodes`: the nodes of the cluster sharing this store (admin).

use axum::Json;
use axum::extract::State;
use troupe_runtime::ErrorCode;

use crate::auth::Caller;
use crate::http::views::NodeView;
use crate::http::{ApiError, AppState, ErrorBody};

/// Lists the cluster's nodes, live ones first: last heartbeat, executions held, agent health.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "cluster",
    responses((status = 200, body = Vec<NodeView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_nodes(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<NodeView>>, ApiError> {
    if !caller.is_admin() {
        return Err(ApiError::new(ErrorCode::Forbidden, "this needs the admin role"));
    }
    let nodes = state.runtime.nodes().await?;
    let this = state.runtime.node_id();
    Ok(Json(nodes.into_iter().map(|node| NodeView::new(node, this)).collect()))
}
