//! One error type for pages: each application error maps to one status and a message safe to
//! show; internals go to the log (without health data), never to the response.

use crate::layout::{Page, render};
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use portal_app::Error;

/// An error answered as a page.
#[derive(Debug)]
pub struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        PageError(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: Page,
    title: &'static str,
    messages: Vec<String>,
}

/// Renders the plain error page with `status`.
pub fn error_page(status: StatusCode, title: &'static str, messages: Vec<String>) -> Response {
    let body = render(&ErrorPage {
        page: Page::anonymous(title),
        title,
        messages,
    });
    (status, body).into_response()
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                vec!["This page does not exist, or you do not have access to it.".into()],
            ),
            Error::Forbidden => error_page(
                StatusCode::FORBIDDEN,
                "Not allowed",
                vec!["Your account cannot open this page.".into()],
            ),
            Error::Unauthenticated => Redirect::to("/signin").into_response(),
            Error::Throttled { minutes } => error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                vec![format!(
                    "Too many failed attempts. Try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )],
            ),
            Error::Invalid(errors) => error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please check what you entered",
                errors.iter().map(|(_, m)| m.clone()).collect(),
            ),
            Error::Rejected(message) => error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The data was refused",
                vec![message],
            ),
            Error::Conflict(message) => {
                error_page(StatusCode::CONFLICT, "Cannot do that", vec![message])
            }
            Error::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    vec!["The portal could not complete this. Nothing was changed; please try again.".into()],
                )
            }
            Error::Internal(e) => {
                tracing::error!(error = %e, "internal failure");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    vec!["The portal could not complete this. Nothing was changed; please try again.".into()],
                )
            }
        }
    }
}

/// Shorthand for page handlers.
pub type PageResult<T = Response> = Result<T, PageError>;

/// An id taken from the path; a malformed one answers the same 404 page as a missing record.
pub struct IdPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for IdPath<T>
where
    T: std::str::FromStr + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| PageError(Error::NotFound).into_response())?;
        raw.parse()
            .map(IdPath)
            .map_err(|_| PageError(Error::NotFound).into_response())
    }
}
