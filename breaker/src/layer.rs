//! A tower [`Layer`] putting a breaker in front of a service (an HTTP client, a gRPC channel).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::{Breaker, Error};

type Classifier<R> = Arc<dyn Fn(&R) -> bool + Send + Sync>;

/// Wraps services with a breaker. Errors of the inner service count as failures; with
/// [`BreakerLayer::failing_responses`], so do responses it picks (e.g. HTTP 5xx).
pub struct BreakerLayer<R> {
    breaker: Arc<Breaker>,
    failing: Option<Classifier<R>>,
}

impl<R> Clone for BreakerLayer<R> {
    fn clone(&self) -> Self {
        BreakerLayer {
            breaker: Arc::clone(&self.breaker),
            failing: self.failing.clone(),
        }
    }
}

impl<R> BreakerLayer<R> {
    /// A layer using `breaker`.
    pub fn new(breaker: Arc<Breaker>) -> Self {
        BreakerLayer {
            breaker,
            failing: None,
        }
    }

    /// Also counts responses for which `failing` is true (e.g. `|r| r.status().is_server_error()`).
    pub fn failing_responses(
        mut self,
        failing: impl Fn(&R) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.failing = Some(Arc::new(failing));
        self
    }
}

impl<S, R> Layer<S> for BreakerLayer<R> {
    type Service = BreakerService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            breaker: Arc::clone(&self.breaker),
            failing: self.failing.clone(),
        }
    }
}

/// The service made by [`BreakerLayer`]: rejected calls fail fast with [`Error::Open`].
pub struct BreakerService<S, R> {
    inner: S,
    breaker: Arc<Breaker>,
    failing: Option<Classifier<R>>,
}

impl<S: Clone, R> Clone for BreakerService<S, R> {
    fn clone(&self) -> Self {
        BreakerService {
            inner: self.inner.clone(),
            breaker: Arc::clone(&self.breaker),
            failing: self.failing.clone(),
        }
    }
}

impl<S, Req> Service<Req> for BreakerService<S, S::Response>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, Error<S::Error>>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let Some(permit) = self.breaker.try_acquire() else {
            let name = self.breaker.name().to_owned();
            return Box::pin(async move { Err(Error::Open(name)) });
        };
        let future = self.inner.call(request);
        let failing = self.failing.clone();
        Box::pin(async move {
            match future.await {
                Ok(response) => {
                    if failing.is_some_and(|f| f(&response)) {
                        permit.failure();
                    } else {
                        permit.success();
                    }
                    Ok(response)
                }
                Err(err) => {
                    permit.failure();
                    Err(Error::Inner(err))
                }
            }
        })
    }
}
