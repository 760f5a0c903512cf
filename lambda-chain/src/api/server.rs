//! The API server: `lambda.chain.v1.Chain`, `grpc.health.v1` health and
//! server reflection (v1 and v1alpha) on one TCP listener. On shutdown it
//! reports NOT_SERVING, stops accepting, ends block streams and waits for
//! in-flight requests before `serve` returns.

use lambda_proto::chain::v1::chain_server::ChainServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;

use super::service::ChainApi;

/// Why the API server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not be built from the descriptors.
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `api` with health and reflection on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: TcpListener,
    api: ChainApi,
    max_message_bytes: usize,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<ChainServer<ChainApi>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lambda_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lambda_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let chain = ChainServer::new(api)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    let stop = shutdown.clone();
    let reporter = health_reporter.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        reporter.set_not_serving::<ChainServer<ChainApi>>().await;
    });
    // Accepted sockets get TCP_NODELAY (the builder's setting does not apply
    // to a supplied listener): without it small answers wait ~40 ms for
    // delayed ACKs on loopback.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(chain)
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await?;
    Ok(())
}
