//! The one table of error codes and the error type every handler returns.
//!
//! Each code has an HTTP status, a stable name and a message in Vietnamese and
//! English. API paths answer `application/problem+json` (RFC 9457); pages
//! answer an HTML error page in the request's language.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vigilo_core::Lang;
use vigilo_store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotFound,
    MethodNotAllowed,
    MalformedJson,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unauthenticated,
    LoginFailed,
    Forbidden,
    CsrfFailed,
    Conflict,
    TooManyRequests,
    Unavailable,
    Overloaded,
    Internal,
    FederationBadSignature,
    FederationUnknownKey,
    FederationStale,
    FederationReplayed,
}

pub struct ErrorSpec {
    pub status: StatusCode,
    pub code: &'static str,
    pub vi: &'static str,
    pub en: &'static str,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::MalformedJson,
        ErrorCode::InvalidInput,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Unauthenticated,
        ErrorCode::LoginFailed,
        ErrorCode::Forbidden,
        ErrorCode::CsrfFailed,
        ErrorCode::Conflict,
        ErrorCode::TooManyRequests,
        ErrorCode::Unavailable,
        ErrorCode::Overloaded,
        ErrorCode::Internal,
        ErrorCode::FederationBadSignature,
        ErrorCode::FederationUnknownKey,
        ErrorCode::FederationStale,
        ErrorCode::FederationReplayed,
    ];

    pub fn spec(self) -> ErrorSpec {
        use ErrorCode::*;
        let (status, code, vi, en) = match self {
            NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Không tìm thấy trang hoặc đối tượng này.",
                "This page or object does not exist.",
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Phương thức HTTP này không được hỗ trợ ở địa chỉ này.",
                "This HTTP method is not supported at this address.",
            ),
            MalformedJson => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "Nội dung JSON không hợp lệ; xem chi tiết để biết trường bị lỗi.",
                "The JSON body is invalid; the detail names the field at fault.",
            ),
            InvalidInput => (
                StatusCode::BAD_REQUEST,
                "invalid_input",
                "Dữ liệu nhập không hợp lệ; xem chi tiết và sửa lại.",
                "The input is invalid; see the detail and correct it.",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Nội dung gửi lên quá lớn. Hãy chia nhỏ hoặc giảm kích thước tệp.",
                "The request body is too large. Split it or send a smaller file.",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Kiểu nội dung không được hỗ trợ; hãy gửi application/json.",
                "Unsupported content type; send application/json.",
            ),
            Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Cần đăng nhập hoặc mã API hợp lệ.",
                "Log in or send a valid API token.",
            ),
            LoginFailed => (
                StatusCode::UNAUTHORIZED,
                "login_failed",
                "Tên đăng nhập hoặc mật khẩu không đúng.",
                "Wrong user name or password.",
            ),
            Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Vai trò của bạn không có quyền thực hiện việc này.",
                "Your role is not allowed to do this.",
            ),
            CsrfFailed => (
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "Biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang và gửi lại.",
                "The form has expired or is invalid. Reload the page and submit again.",
            ),
            Conflict => (
                StatusCode::CONFLICT,
                "conflict",
                "Đối tượng này đã tồn tại.",
                "This object already exists.",
            ),
            TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Quá nhiều yêu cầu. Vui lòng thử lại sau.",
                "Too many requests. Please try again later.",
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Cơ sở dữ liệu tạm thời không truy cập được. Vui lòng thử lại sau ít phút.",
                "The database is temporarily unreachable. Please try again in a few minutes.",
            ),
            Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "Hệ thống đang bận. Vui lòng thử lại sau vài giây.",
                "The server is busy. Please try again in a few seconds.",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Lỗi hệ thống. Sự cố đã được ghi lại; vui lòng thử lại.",
                "Internal error. It has been logged; please try again.",
            ),
            FederationBadSignature => (
                StatusCode::UNAUTHORIZED,
                "federation_bad_signature",
                "Chữ ký yêu cầu liên thông không hợp lệ hoặc không khớp với nút này; yêu cầu đã bị từ chối và ghi lại.",
                "The federation request's signature is invalid or not made for this node; it was refused and logged.",
            ),
            FederationUnknownKey => (
                StatusCode::UNAUTHORIZED,
                "federation_unknown_key",
                "Khóa ký yêu cầu không thuộc nút thành viên nào mà quản trị viên đã ghim; yêu cầu đã bị từ chối và ghi lại.",
                "The request is signed by a key no administrator pinned as a peer; it was refused and logged.",
            ),
            FederationStale => (
                StatusCode::UNAUTHORIZED,
                "federation_stale",
                "Thời điểm ký yêu cầu quá xa thời gian hiện tại; hãy kiểm tra đồng hồ của nút gửi.",
                "The request was signed too far from the current time; check the sending node's clock.",
            ),
            FederationReplayed => (
                StatusCode::UNAUTHORIZED,
                "federation_replayed",
                "Yêu cầu này đã được gửi trước đó (nonce đã dùng); yêu cầu phát lại bị từ chối và ghi lại.",
                "This request was already received (its nonce was used); the replay was refused and logged.",
            ),
        };
        ErrorSpec {
            status,
            code,
            vi,
            en,
        }
    }

    pub fn message(self, lang: Lang) -> &'static str {
        let s = self.spec();
        match lang {
            Lang::Vi => s.vi,
            Lang::En => s.en,
        }
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct AppError {
    pub code: ErrorCode,
    pub detail: Option<String>,
    pub retry_after: Option<u64>,
    /// Set by the response layer from the request, so the body is in the user's language.
    pub lang: Lang,
    /// Pages get HTML; API paths get problem+json.
    pub html: bool,
    /// Language and format were taken from the request's context; when false the
    /// context layer renders the error again once it knows them.
    pub contextual: bool,
}

impl AppError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            detail: None,
            retry_after: None,
            lang: Lang::Vi,
            html: false,
            contextual: false,
        }
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }
    pub fn invalid(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput).detail(d)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound { .. } => AppError::new(ErrorCode::NotFound).detail(e.to_string()),
            StoreError::Conflict { .. } => AppError::new(ErrorCode::Conflict).detail(e.to_string()),
            StoreError::Invalid { .. } => {
                AppError::new(ErrorCode::InvalidInput).detail(e.to_string())
            }
            _ if e.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable");
                AppError::new(ErrorCode::Unavailable).retry_after(5)
            }
            _ => {
                tracing::error!(error = %e, "store error");
                AppError::new(ErrorCode::Internal)
            }
        }
    }
}

/// RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `/problems/{code}`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code from the error table.
    pub code: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let spec = self.code.spec();
        let detail_copy = self.detail.clone();
        let title = self.code.message(self.lang).to_string();
        let mut resp = if self.html {
            crate::pages::error_page(self.lang, spec.status, &title, self.detail.as_deref())
        } else {
            let body = Problem {
                type_uri: format!("/problems/{}", spec.code),
                title,
                status: spec.status.as_u16(),
                detail: self.detail,
                code: spec.code.to_string(),
            };
            let mut r = (spec.status, axum::Json(body)).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            r
        };
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        // Marks the response so the language layer can re-render it in the user's language.
        resp.extensions_mut().insert(ErrorMarker {
            code: self.code,
            retry_after: self.retry_after,
            detail: detail_copy,
            contextual: self.contextual,
        });
        resp
    }
}

/// Left on error responses so outer layers know which error produced them.
#[derive(Debug, Clone)]
pub struct ErrorMarker {
    pub code: ErrorCode,
    pub retry_after: Option<u64>,
    pub detail: Option<String>,
    pub contextual: bool,
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_unique() {
        let mut codes = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.spec();
            assert!(!s.vi.is_empty() && !s.en.is_empty(), "{}", s.code);
            assert_ne!(s.vi, s.en, "{} needs a Vietnamese message", s.code);
            assert!(codes.insert(s.code), "duplicate code {}", s.code);
            assert!(s.status.is_client_error() || s.status.is_server_error());
        }
    }

    /// Every code in the table is used somewhere besides its entry in `ALL`, so
    /// the table does not collect dead entries.
    #[test]
    fn every_code_is_used() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut sources = String::new();
        for entry in std::fs::read_dir(&dir).expect("src dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).expect("read source"));
            }
        }
        for c in ErrorCode::ALL {
            let name = format!("ErrorCode::{c:?}");
            let uses = sources.matches(&name).count();
            assert!(uses >= 2, "{name} is never used outside the table");
        }
    }
}
