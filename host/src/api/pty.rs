//! `/pty`: the terminals of the request's directory, and `GET /pty/{ptyID}/connect`, the
//! WebSocket a terminal client types into and reads from. Output arrives as text messages; after
//! the replay of what the client missed comes one binary message, a zero byte and
//! `{"cursor": n}`, the cursor to reconnect from (`?cursor=n`; `-1` for nothing old). Input is
//! whatever the client sends, text or binary.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::ws::{
    CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{Scoped, ValidJson, ValidPath, ValidQuery};
use crate::protocol::PtyId;
use crate::protocol::pty::Pty;
use crate::terminal::shells::{self, Shell};
use crate::terminal::{Attachment, NewTerminal, Size, TICKET_LIFETIME, Terminal, TerminalError, chunks};

/// The header a client sends to ask for a connect ticket (a form cannot set it, so a page of
/// another site cannot get one through a user's browser).
const TICKET_HEADER: &str = "x-opencode-ticket";

impl From<TerminalError> for ApiError {
    fn from(error: TerminalError) -> Self {
        let message = error.to_string();
        match error {
            TerminalError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "PtyNotFoundError", message),
            TerminalError::Invalid(_) => ApiError::bad_request(message, "Payload"),
            TerminalError::Refused(_) => ApiError::new(StatusCode::FORBIDDEN, "PtyForbiddenError", message),
        }
    }
}

/// `POST /pty`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreatePty {
    /// The program (the user's shell by default).
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    /// Where it runs, relative to the directory (the directory by default).
    pub cwd: Option<String>,
    pub title: Option<String>,
    /// Set over the server's environment.
    pub env: Option<BTreeMap<String, String>>,
}

/// `PUT /pty/{ptyID}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdatePty {
    pub title: Option<String>,
    pub size: Option<PtySize>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PtySize {
    pub rows: u32,
    pub cols: u32,
}

/// `POST /pty/{ptyID}/connect-token`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PtyTicketConnectToken)]
pub struct ConnectToken {
    pub ticket: String,
    /// Seconds.
    pub expires_in: u64,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ConnectQuery {
    /// The cursor of the output the client has seen (`-1`: only what comes next).
    pub cursor: Option<String>,
    /// A ticket from `connect-token`, for clients that cannot send credentials.
    pub ticket: Option<String>,
}

/// Shells this machine lists in `/etc/shells`.
#[utoipa::path(get, path = "/pty/shells", operation_id = "pty.shells", tag = "pty",
    responses((status = 200, description = "List of shells", body = Vec<Shell>)))]
pub async fn list_shells() -> Result<Json<Vec<Shell>>, ApiError> {
    Ok(Json(super::blocking(shells::list).await?))
}

/// The open terminals.
#[utoipa::path(get, path = "/pty", operation_id = "pty.list", tag = "pty",
    responses((status = 200, description = "List of sessions", body = Vec<Pty>)))]
pub async fn list(Scoped(instance): Scoped) -> Json<Vec<Pty>> {
    Json(instance.terminals.list())
}

/// Opens a terminal running `command` (the user's shell by default).
#[utoipa::path(post, path = "/pty", operation_id = "pty.create", tag = "pty",
    request_body(content = CreatePty),
    responses(
        (status = 200, description = "Created session", body = Pty),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
        (status = 403, description = "The project's sandbox refuses to run it", body = super::error::ErrorBody),
    ))]
pub async fn create(
    Scoped(instance): Scoped,
    ValidJson(body): ValidJson<CreatePty>,
) -> Result<Json<Pty>, ApiError> {
    let request = NewTerminal {
        command: body.command,
        args: body.args,
        cwd: body.cwd,
        title: body.title,
        env: body.env.unwrap_or_default().into_iter().collect(),
    };
    let info = super::blocking(move || instance.terminals.create(request)).await??;
    Ok(Json(info))
}

#[utoipa::path(get, path = "/pty/{ptyID}", operation_id = "pty.get", tag = "pty",
    responses(
        (status = 200, description = "Session info", body = Pty),
        (status = 404, description = "PtyNotFoundError", body = super::error::ErrorBody),
    ))]
pub async fn get(Scoped(instance): Scoped, ValidPath(id): ValidPath<PtyId>) -> Result<Json<Pty>, ApiError> {
    Ok(Json(instance.terminals.get(&id)?.info()))
}

/// Changes a terminal's title or size.
#[utoipa::path(put, path = "/pty/{ptyID}", operation_id = "pty.update", tag = "pty",
    request_body(content = UpdatePty),
    responses(
        (status = 200, description = "Updated session", body = Pty),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
        (status = 404, description = "PtyNotFoundError", body = super::error::ErrorBody),
    ))]
pub async fn update(
    Scoped(instance): Scoped,
    ValidPath(id): ValidPath<PtyId>,
    ValidJson(body): ValidJson<UpdatePty>,
) -> Result<Json<Pty>, ApiError> {
    let size = body.size.map(terminal_size).transpose()?;
    Ok(Json(instance.terminals.update(&id, body.title, size)?))
}

fn terminal_size(size: PtySize) -> Result<Size, ApiError> {
    let side = |value: u32, name: &str| {
        u16::try_from(value).ok().filter(|v| *v > 0).ok_or_else(|| {
            ApiError::bad_request(format!("size.{name} must be between 1 and 65535"), "Payload")
        })
    };
    Ok(Size {
        rows: side(size.rows, "rows")?,
        cols: side(size.cols, "cols")?,
    })
}

/// Closes a terminal: its program and everything it started are killed.
#[utoipa::path(delete, path = "/pty/{ptyID}", operation_id = "pty.remove", tag = "pty",
    responses(
        (status = 200, description = "Session removed", body = bool),
        (status = 404, description = "PtyNotFoundError", body = super::error::ErrorBody),
    ))]
pub async fn remove(
    Scoped(instance): Scoped,
    ValidPath(id): ValidPath<PtyId>,
) -> Result<Json<bool>, ApiError> {
    instance.terminals.remove(&id)?;
    Ok(Json(true))
}

/// A single-use ticket for `GET /pty/{ptyID}/connect?ticket=…`, good for a minute; the request
/// must carry `x-opencode-ticket: 1`.
#[utoipa::path(post, path = "/pty/{ptyID}/connect-token", operation_id = "pty.connectToken", tag = "pty",
    responses(
        (status = 200, description = "WebSocket connect token", body = ConnectToken),
        (status = 403, description = "PtyForbiddenError", body = super::error::ErrorBody),
        (status = 404, description = "PtyNotFoundError", body = super::error::ErrorBody),
    ))]
pub async fn connect_token(
    Scoped(instance): Scoped,
    ValidPath(id): ValidPath<PtyId>,
    headers: HeaderMap,
) -> Result<Json<ConnectToken>, ApiError> {
    if headers.get(TICKET_HEADER).and_then(|v| v.to_str().ok()) != Some("1") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "PtyForbiddenError",
            format!("Invalid PTY connect token request: send the header {TICKET_HEADER}: 1"),
        ));
    }
    Ok(Json(ConnectToken {
        ticket: instance.terminals.issue_ticket(&id)?,
        expires_in: TICKET_LIFETIME.as_secs(),
    }))
}

/// The terminal's WebSocket (see the module docs).
#[utoipa::path(get, path = "/pty/{ptyID}/connect", operation_id = "pty.connect", tag = "pty",
    params(ConnectQuery),
    responses(
        (status = 101, description = "Connected session"),
        (status = 200, description = "Connected session", body = bool),
        (status = 403, description = "The ticket is not valid for this terminal", body = super::error::ErrorBody),
        (status = 404, description = "PtyNotFoundError", body = super::error::ErrorBody),
        (status = 426, description = "Not a WebSocket request", body = super::error::ErrorBody),
    ))]
pub async fn connect(
    Scoped(instance): Scoped,
    ValidPath(id): ValidPath<PtyId>,
    ValidQuery(query): ValidQuery<ConnectQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let terminal = instance.terminals.get(&id)?;
    if let Some(ticket) = query.ticket.as_deref().filter(|t| !t.is_empty())
        && !instance.terminals.consume_ticket(ticket, &id)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "PtyForbiddenError",
            "the ticket is not valid for this terminal (used, expired, or issued for another)",
        ));
    }
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "UpgradeRequired",
            format!("connect with a WebSocket: {}", rejection.body_text()),
        )
    })?;
    // Lenient as the reference: a cursor that is not an integer of -1 or more replays everything.
    let cursor = query
        .cursor
        .and_then(|c| c.trim().parse::<i64>().ok())
        .filter(|c| *c >= -1);
    Ok(upgrade
        .on_upgrade(move |socket| serve(socket, terminal, cursor))
        .into_response())
}

/// One client of a terminal, until either side closes.
async fn serve(mut socket: WebSocket, terminal: Arc<Terminal>, cursor: Option<i64>) {
    let Attachment {
        replay,
        cursor,
        mut live,
    } = terminal.attach(cursor);
    for chunk in chunks(&replay) {
        if socket.send(Message::Text(chunk.into())).await.is_err() {
            return;
        }
    }
    let mut meta = vec![0u8];
    meta.extend(serde_json::json!({ "cursor": cursor }).to_string().into_bytes());
    if socket.send(Message::Binary(meta.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            biased;
            chunk = live.recv() => match chunk {
                Some(text) => {
                    if socket.send(Message::Text((*text).into())).await.is_err() {
                        return;
                    }
                }
                // Cut off: this client stopped reading while the terminal had output for it.
                None => {
                    close(&mut socket, 1013, "too far behind: reconnect with your cursor").await;
                    return;
                }
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => terminal.write(text.as_bytes().to_vec()),
                Some(Ok(Message::Binary(bytes))) => terminal.write(bytes.to_vec()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) => {
                    // Completes the closing handshake (the reply to the client's close is queued).
                    let _ = socket.flush().await;
                    return;
                }
                Some(Err(_)) | None => return,
            },
            () = terminal.closed() => break,
        }
    }
    // The terminal closed: what it printed last goes out before the close.
    while let Ok(text) = live.try_recv() {
        if socket.send(Message::Text((*text).into())).await.is_err() {
            return;
        }
    }
    close(&mut socket, 1000, "").await;
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_shells))
        .routes(routes!(list, create))
        .routes(routes!(get, update, remove))
        .routes(routes!(connect_token))
        .routes(routes!(connect))
}
