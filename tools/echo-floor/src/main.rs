//! The floor of the cold-start benchmark: nothing can start faster than a bare runtime.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) })).await
}
