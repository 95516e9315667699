//! Extractors that turn axum's rejections into entries of the error table.

use crate::error::{AppError, ErrorCode};
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// JSON body; malformed input answers 400 naming the field, too large 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> AppError {
    match rej.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::new(ErrorCode::PayloadTooLarge),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::new(ErrorCode::UnsupportedMediaType),
        _ => {
            let text = rej.body_text();
            // axum prefixes serde's message ("missing field `name` at line 1 column 2").
            let detail = text
                .split_once(": ")
                .map(|(_, d)| d.to_string())
                .unwrap_or(text);
            AppError::new(ErrorCode::MalformedJson).detail(detail)
        }
    }
}

/// URL-encoded form body.
pub struct PageForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PageForm<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(rej) => Err(form_rejection(rej)),
        }
    }
}

fn form_rejection(rej: FormRejection) -> AppError {
    match rej.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::new(ErrorCode::PayloadTooLarge),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::new(ErrorCode::UnsupportedMediaType),
        _ => AppError::new(ErrorCode::InvalidInput).detail(rej.body_text()),
    }
}

/// Query string.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err(query_rejection(rej)),
        }
    }
}

fn query_rejection(rej: QueryRejection) -> AppError {
    AppError::new(ErrorCode::InvalidInput).detail(rej.body_text())
}
