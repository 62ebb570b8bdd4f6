//! Whether a request's body was read to its end. A handler may answer before it has read the whole
//! body: refusals drain a body that keeps flowing, but stop at a limit or when it pauses (a package far
//! over the size limit, a stalled upload, a 408). The server then closes the connection, as the unread
//! rest cannot be told apart from the next request, and the answer must say `Connection: close`, or a
//! client sends its next request on a connection that is closing.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{header, HeaderValue, Request};
use axum::response::Response;
use http_body::{Body, Frame, SizeHint};

/// A request body that notes when it has been read to its end.
pub(super) struct TrackedBody<B> {
    inner: B,
    /// Set once the end is read; `None` for a body that was empty from the start, which has nothing to
    /// track (every GET), so that a read pays for nothing but the check.
    finished: Option<Arc<AtomicBool>>,
}

/// What tells the envelope, once the answer is made, whether the body was read to its end.
pub(super) struct BodyEnd(Option<Arc<AtomicBool>>);

/// Wraps the request's body so that its end is noted.
pub(super) fn track<B: Body>(request: Request<B>) -> (Request<TrackedBody<B>>, BodyEnd) {
    let finished = (!request.body().is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
    let end = BodyEnd(finished.clone());
    (request.map(|inner| TrackedBody { inner, finished }), end)
}

impl BodyEnd {
    /// Adds `Connection: close` to an answer given while part of the body is still unread.
    pub(super) fn close_if_unread(&self, response: &mut Response) {
        let unread = self
            .0
            .as_ref()
            .is_some_and(|finished| !finished.load(Ordering::Acquire));
        if unread {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Some(finished) = &self.finished {
            let at_end = match &polled {
                Poll::Ready(None) => true,
                Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
                Poll::Ready(Some(Err(_))) | Poll::Pending => false,
            };
            if at_end {
                finished.store(true, Ordering::Release);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body as AxumBody;

    fn connection(end: &BodyEnd) -> Option<String> {
        let mut response = Response::new(AxumBody::empty());
        end.close_if_unread(&mut response);
        let value = response.headers().get(header::CONNECTION)?;
        value.to_str().ok().map(str::to_string)
    }

    #[tokio::test]
    async fn only_an_answer_that_leaves_body_unread_closes_the_connection() {
        let (_, end) = track(Request::new(AxumBody::empty()));
        assert_eq!(connection(&end), None, "nothing to read");

        let (request, end) = track(Request::new(AxumBody::from("a package")));
        assert_eq!(connection(&end).as_deref(), Some("close"), "unread");
        let read = axum::body::to_bytes(AxumBody::new(request.into_body()), 1024).await;
        assert_eq!(read.ok().as_deref(), Some(&b"a package"[..]));
        assert_eq!(connection(&end), None, "read to its end");
    }
}
