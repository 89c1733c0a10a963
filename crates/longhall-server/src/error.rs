//! HTTP mapping of core errors, and a JSON extractor whose rejections use our error codes.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use longhall_core::CoreError;
use longhall_types::ErrorCode;

/// Any failure of a handler: rendered as `{"code","message"}` with the code's HTTP status.
#[derive(Debug)]
pub struct ApiError(pub CoreError);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(CoreError::new(code, message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.0.body())).into_response();
        // For the errors-by-code metric (counted by a layer that has the server's state).
        response.extensions_mut().insert(self.0.code);
        if let Some(s) = self.0.retry_after_s {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(s));
        }
        if self.0.code == ErrorCode::PayloadTooLarge {
            // The rest of the body was never read, so the connection can't carry another
            // request: say so, or a client may reuse it and see its next request fail.
            response
                .headers_mut()
                .insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        }
        response
    }
}

/// `axum::Json` with rejections reported as `invalid_request` / `payload_too_large`.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(Default::default())));
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(json_rejection(JsonRejection::BytesRejection(e)));
            }
            Err(e) => {
                if let Some(limit) = crate::listener::body_timed_out(&e) {
                    return Err(crate::listener::body_timeout_error(limit));
                }
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("The request body could not be read: {}.", e.body_text()),
                ));
            }
        };
        // serde would also fill a struct from an array, field by position: a body is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|&b| b != b'{') {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "The request body must be a JSON object ({\"field\": value, …}), not an array or a bare value.",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `application/json` or any `+json` type, as `axum::Json` accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind == "application" && (sub == "json" || sub.ends_with("+json"))
}

pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The request body is larger than {} bytes; send less at a time.",
                longhall_types::limits::MAX_BODY_BYTES
            ),
        );
    }
    let detail = match &rejection {
        JsonRejection::JsonDataError(e) => e.body_text(),
        JsonRejection::JsonSyntaxError(e) => e.body_text(),
        JsonRejection::MissingJsonContentType(_) => "send the body with Content-Type: application/json".to_owned(),
        other => other.body_text(),
    };
    ApiError::new(ErrorCode::InvalidRequest, format!("The request body is not what this call expects: {detail}."))
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path-parameter rejections (e.g. a room id that is not a number) as `invalid_request`.
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => {
                Err(ApiError::new(ErrorCode::InvalidRequest, format!("The path is not valid: {}.", e.body_text())))
            }
        }
    }
}

/// Query-string rejections as `invalid_request`.
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("The query string is not valid: {}.", e.body_text()),
            )),
        }
    }
}
