//! The least a Rust Worker can do with an event batch: read its body and answer 202. Built
//! and served like the collector (worker-build, wasm-opt, `wrangler dev`), it is the ceiling
//! that `make bench` measures the collector against, in the same run.
#[cfg(target_arch = "wasm32")]
mod edge {
    use worker::{event, Context, Env, Request, Response, Result};

    #[event(fetch)]
    async fn fetch(mut req: Request, _env: Env, _ctx: Context) -> Result<Response> {
        let body = req.bytes().await?;
        Ok(Response::ok(format!("{{\"bytes\":{}}}", body.len()))?.with_status(202))
    }
}
